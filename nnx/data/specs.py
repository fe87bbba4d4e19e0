"""The `data:` section of an experiment: one schema per data set, chosen by `name`."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..spec import Strict


class DataBase(Strict):
    validation_split: float = Field(0.2, ge=0, lt=1, description="fraction of the training set held out")
    train_subset: int | None = Field(None, ge=1, description="use only this many training examples")


class ImageDataSpec(DataBase):
    """Image classification sets: MNIST and Fashion-MNIST (IDX files), scikit-learn's 8x8 digits."""

    name: Literal["mnist", "fashion_mnist", "digits"]


class CifarDataSpec(DataBase):
    """CIFAR-10 and CIFAR-100 (32x32 colour images), from the canonical python-pickle archives."""

    name: Literal["cifar10", "cifar100"]
    label_mode: Literal["fine", "coarse"] = Field("fine", description="cifar100: 100 fine classes or 20 coarse")

    @model_validator(mode="after")
    def _coarse_only_for_cifar100(self):
        if self.name == "cifar10" and self.label_mode != "fine":
            raise ValueError("label_mode 'coarse' exists only for cifar100 (its 20 superclasses)")
        return self


DataSpec = Annotated[ImageDataSpec | CifarDataSpec, Field(discriminator="name")]
