"""ImageNet channel statistics: what ImageNet-pretrained weights expect their inputs scaled by.

Kept free of heavy imports so that both the data transforms and the backbone table (which
records each checkpoint's normalisation) read them from here.
"""

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
