"""The `data:` section of an experiment: one schema per data set, chosen by `name`."""

from typing import Annotated, Literal

from pydantic import Field

from ..spec import Strict


class DataBase(Strict):
    validation_split: float = Field(0.2, ge=0, lt=1, description="fraction of the training set held out")
    train_subset: int | None = Field(None, ge=1, description="use only this many training examples")


class ImageDataSpec(DataBase):
    """Image classification sets: MNIST and Fashion-MNIST (IDX files), scikit-learn's 8x8 digits."""

    name: Literal["mnist", "fashion_mnist", "digits"]


DataSpec = Annotated[ImageDataSpec, Field(discriminator="name")]
