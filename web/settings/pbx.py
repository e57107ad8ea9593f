"""``[[pbx]]``: each Asterisk server helpline listens to over AMI."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, model_validator

from web.settings.base import Duration, Section


class PbxSettings(Section):
    """One ``[[pbx]]``: an Asterisk server whose AMI helpline listens to."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    host: str = Field(min_length=1)
    port: int = Field(5038, ge=1, le=65535)
    username: str = Field(min_length=1)
    secret: SecretStr
    queues: list[str] = Field(default_factory=list)
    contexts: list[str] = Field(default_factory=list)
    ping_interval: Duration = timedelta(seconds=10)
    action_timeout: Duration = timedelta(seconds=10)
    #: Click to call: the agent's phone is rung on this channel, then the number is dialled in this context.
    originate_channel: str = Field("PJSIP/{extension}", pattern=r"^[^\r\n]*\{extension\}[^\r\n]*$")
    originate_context: str = Field("from-internal", pattern=r"^[^\r\n]+$")
    originate_ring: Duration = timedelta(seconds=30)
    #: Automatic wrap-up pause after each answered call, by queue (``[pbx.wrapup] helpdesk = "30s"``): the agent who
    #: took a call of that queue is paused (reason "wrap-up") in the IT-line queues for that long. None by default.
    wrapup: dict[str, Duration] = Field(default_factory=dict)
    #: The supervisors' board: a call answered within this wait counts towards the service level.
    service_level: Duration = timedelta(seconds=20)

    @model_validator(mode="after")
    def _selects_something(self) -> PbxSettings:
        if not self.queues and not self.contexts:
            raise ValueError('name the IT line: queues = ["helpdesk"] (and/or contexts = [...])')
        if self.ping_interval < timedelta(seconds=1) or self.action_timeout < timedelta(seconds=1):
            raise ValueError("ping_interval and action_timeout must be at least 1s")
        unknown = sorted(set(self.wrapup) - set(self.queues))
        if unknown:
            raise ValueError(f"wrapup names queue {unknown[0]!r}, which is not in queues = {self.queues!r}")
        if any(not timedelta(0) <= length <= timedelta(hours=1) for length in self.wrapup.values()):
            raise ValueError('a wrapup length is between 0s and 1h, e.g. helpdesk = "30s"')
        return self
