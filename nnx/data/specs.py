"""The `data:` section of an experiment: one schema per data set, chosen by `name`."""

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from ..spec import Strict


class DataBase(Strict):
    validation_split: float = Field(0.2, ge=0, lt=1, description="fraction of the training set held out")
    train_subset: int | None = Field(None, ge=1, description="use only this many training examples")


class ImageDataSpec(DataBase):
    """Image classification sets: MNIST and Fashion-MNIST (IDX files), scikit-learn's 8x8 digits."""

    name: Literal["mnist", "fashion_mnist", "digits"]


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


DataSpec = Annotated[Union[ImageDataSpec, ImdbDataSpec], Field(discriminator="name")]
