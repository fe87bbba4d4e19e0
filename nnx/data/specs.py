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


class SyntheticSpec(DataBase):
    """Two Gaussian classes in `dims` dimensions (labels 0/1), drawn from the run's seed."""

    name: Literal["synthetic"]
    dims: int = Field(2, ge=1, description="input dimension d")
    train_size: int = Field(200, ge=2)
    test_size: int = Field(1000, ge=1)
    distance: float = Field(3.0, ge=0, description="distance between the two class means (unit variance)")
    separable: bool = Field(True, description="drop points inside the margin band, so a hyperplane separates them")
    margin: float = Field(1.0, ge=0, description="separable: width of the empty band between the classes")


class HittersSpec(DataBase):
    """ISLP's Hitters: the 263 players with a salary; regression of Salary on 19 predictors."""

    name: Literal["hitters"]
    test_size: float = Field(1 / 3, gt=0, lt=1, description="fraction held out as the test set")
    split_seed: int = Field(1, description="random_state of the train/test split (the ISLP lab's 1)")
    standardize: bool = Field(True, description="scale predictors with the training part's mean and sd")


class NYSESpec(DataBase):
    """ISLP's NYSE: predict today's log_volume from the previous `lags` days of three series."""

    name: Literal["nyse"]
    lags: int = Field(5, ge=1, le=100, description="previous days in each input")
    day_of_week: bool = Field(False, description="add the target day's weekday as 5 indicators")
    layout: Literal["flat", "sequence"] = Field(
        "flat", description="flat: (N, lags*3 [+5]); sequence: (N, lags, 3 [+5]), oldest day first")
    validation_order: Literal["chronological", "random"] = Field(
        "chronological", description="validation days: the last training days, or a random draw of them")


class ImdbDataSpec(DataBase):
    """IMDB movie reviews (binary sentiment): a bag of words or padded word-id sequences."""

    name: Literal["imdb"]
    representation: Literal["bow", "sequence"] = Field(
        "bow", description="bow: distinct word ids per review; sequence: the last maxlen ids, front-padded")
    num_words: int = Field(10000, ge=1, description="vocabulary: the most frequent training words")
    maxlen: int = Field(500, ge=1, description="sequence: keep the last maxlen words")
    bigrams: bool = Field(False, description="bow: word pairs compete with words for the vocabulary")
    lowercase: bool = True
    strip_html: bool = Field(True, description="remove <br /> and other markup")
    strip_punctuation: bool = Field(True, description="words are runs of letters/digits (and inner ')")

    @model_validator(mode="after")
    def _bigrams_need_bow(self):
        if self.bigrams and self.representation != "bow":
            raise ValueError("bigrams apply to representation: bow only; set bigrams: false for sequences")
        return self


class CifarDataSpec(DataBase):
    """CIFAR-10 and CIFAR-100 (32x32 colour images), from the canonical python-pickle archives."""

    name: Literal["cifar10", "cifar100"]
    label_mode: Literal["fine", "coarse"] = Field("fine", description="cifar100: 100 fine classes or 20 coarse")

    @model_validator(mode="after")
    def _coarse_only_for_cifar100(self):
        if self.name == "cifar10" and self.label_mode != "fine":
            raise ValueError("label_mode 'coarse' exists only for cifar100 (its 20 superclasses)")
        return self


DataSpec = Annotated[
    ImageDataSpec
    | SyntheticSpec
    | HittersSpec
    | NYSESpec
    | ImdbDataSpec
    | CifarDataSpec,
    Field(discriminator="name"),
]
