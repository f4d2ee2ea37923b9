"""The base of every CRAC profile model, whatever the protocol (Modbus or SNMP)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class ProfileModel(BaseModel):
    """Unknown keys are errors, values immutable, and YAML's boolean keys explained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_keys(cls, data: object) -> object:
        # YAML 1.1 reads the keys on/off/yes/no as booleans; say so instead of
        # pydantic's "Keys should be strings".
        if isinstance(data, dict):
            flags = sorted(str(k).lower() for k in data if isinstance(k, bool))
            if flags:
                raise ValueError(
                    f"key(s) read by YAML as {', '.join(flags)} (on/off/yes/no are booleans "
                    "in YAML): use the field names this profile format defines"
                )
        return data
