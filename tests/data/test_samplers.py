"""Training order as a function of (seed, epoch), sharding across processes, mid-epoch resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from src.data.classification_transforms import train_transform
from src.data.imagenet import ImageFolderDataset
from src.data.samplers import (
    InOrderShardSampler,
    ResumableDataLoader,
    SampleKey,
    ShuffleShardSampler,
)
from src.utils.config_validation import ConfigError
from tests.data.builders import make_image_folder


class KeyEcho(Dataset):
    """Returns the dataset index and augmentation seed it is asked for."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: SampleKey) -> tuple[int, int]:
        return key.index, key.seed


def _keys(sampler: ShuffleShardSampler, epoch: int) -> list[SampleKey]:
    sampler.set_epoch(epoch)
    return list(sampler)


def _loader(size: int, batch_size: int, num_workers: int = 0) -> ResumableDataLoader:
    dataset = KeyEcho(size)
    sampler = ShuffleShardSampler(dataset, seed=7)
    return ResumableDataLoader(
        dataset, sampler=sampler, batch_size=batch_size, drop_last=True, num_workers=num_workers
    )


def _indices(batches: list[list[torch.Tensor]]) -> list[int]:
    return [index for batch in batches for index in batch[0].tolist()]


def test_order_is_a_function_of_seed_and_epoch() -> None:
    dataset = KeyEcho(50)
    first, again = ShuffleShardSampler(dataset, seed=1), ShuffleShardSampler(dataset, seed=1)
    assert _keys(first, 0) == _keys(again, 0)
    assert _keys(first, 0) != _keys(first, 1)
    assert _keys(first, 0) != _keys(ShuffleShardSampler(dataset, seed=2), 0)
    assert sorted(key.index for key in _keys(first, 3)) == list(range(50))


def test_processes_split_one_permutation_with_the_same_sample_seeds() -> None:
    dataset = KeyEcho(51)
    single = _keys(ShuffleShardSampler(dataset, seed=3), 2)
    shards = [_keys(ShuffleShardSampler(dataset, 3, num_replicas=2, rank=r), 2) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 25  # the odd one out is dropped this epoch
    assert not {key.index for key in shards[0]} & {key.index for key in shards[1]}
    # rank r's i-th sample is the global order's (2i + r)-th: each global batch of 2b samples
    # is the union of the two processes' batches of b, with the same augmentation seeds
    interleaved = [key for pair in zip(*shards, strict=True) for key in pair]
    assert interleaved == single[:50]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resumed_loader_continues_where_the_checkpoint_was_taken(num_workers: int) -> None:
    uninterrupted = _loader(40, batch_size=4, num_workers=num_workers)
    uninterrupted.sampler.set_epoch(1)
    expected = _indices(list(uninterrupted))

    interrupted = _loader(40, batch_size=4, num_workers=num_workers)
    interrupted.sampler.set_epoch(1)
    iterator = iter(interrupted)
    seen = [next(iterator) for _ in range(3)]  # workers have fetched further ahead than this
    state = interrupted.state_dict()
    assert state == {"epoch": 1, "batches": 3, "processes": 1}

    resumed = _loader(40, batch_size=4, num_workers=num_workers)
    resumed.load_state_dict(state)
    resumed.sampler.set_epoch(1)  # what Lightning does before the epoch starts
    rest = list(resumed)
    assert _indices(seen) + _indices(rest) == expected
    assert resumed.state_dict() == {"epoch": 1, "batches": 10, "processes": 1}


def test_resume_state_of_a_finished_epoch_does_not_touch_the_next() -> None:
    loader = _loader(40, batch_size=4)
    loader.load_state_dict({"epoch": 0, "batches": 10})
    loader.sampler.set_epoch(1)
    assert len(list(loader)) == 10


def test_a_loader_state_from_another_process_count_is_refused() -> None:
    """The backstop where the process count is only known at run time (devices=auto, a
    scheduler's tasks): a checkpoint of 2 processes does not resume on 1."""
    loader = _loader(40, batch_size=4)
    with pytest.raises(
        ConfigError, match="written by a run on 2 processes and this resume runs on 1"
    ):
        loader.load_state_dict({"epoch": 1, "batches": 3, "processes": 2})


@pytest.mark.parametrize(("size", "world_size"), [(21, 2), (5, 3), (8, 2)])
def test_evaluation_shards_count_every_sample_once(size: int, world_size: int) -> None:
    dataset = KeyEcho(size)
    shards = [list(InOrderShardSampler(dataset, world_size, rank)) for rank in range(world_size)]
    assert sorted(index for shard in shards for index in shard) == list(range(size))
    assert [len(shard) for shard in shards] == [
        len(InOrderShardSampler(dataset, world_size, rank)) for rank in range(world_size)
    ]


def test_fewer_samples_than_processes_is_refused() -> None:
    with pytest.raises(ValueError, match="fewer than the 4 processes"):
        InOrderShardSampler(KeyEcho(3), num_replicas=4, rank=0)


def test_augmentation_follows_the_sample_seed(tmp_path: Path) -> None:
    make_image_folder(tmp_path, {"train": {"a": 1}})
    transform = train_transform(16, (0.3, 1.0), "bilinear", 0.5, 0.4, "randaugment", 2, 9,
                                (0.5,) * 3, (0.25,) * 3)  # fmt: skip
    dataset = ImageFolderDataset([(next((tmp_path / "train" / "a").iterdir()), 0)], transform)
    first, again = dataset[SampleKey(0, 11)], dataset[SampleKey(0, 11)]
    assert torch.equal(first["image"], again["image"])
    assert not torch.equal(first["image"], dataset[SampleKey(0, 12)]["image"])
