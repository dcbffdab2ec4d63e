"""Predicting a folder of one's own images (``src/predict.py``): its images, a segmentor's masks
and score maps, a classifier's top-k table, and the model they come from."""
