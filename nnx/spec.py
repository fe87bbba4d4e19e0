"""The base of every YAML section's schema (pydantic, no JAX)."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors; defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
