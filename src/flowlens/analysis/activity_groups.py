"""Activity groups and channel families: which steps mean "verify identity", "transfer", ...

The customer's view (:mod:`flowlens.analysis.journeys`) counts behaviours, not activities:
identity checks, requests for information, transfers, abandonment. Logs name these steps in
many ways and languages, so a group is a list of activity names, matched after
normalisation (case, spaces, ``_`` and ``-`` ignored). The defaults cover common English and
Simplified Chinese labels; a JSON or TOML file extends or replaces them::

    # groups.toml
    verification = ["Verify Identity", "Security Questions"]
    transfer = ["Transfer to Specialist"]
    [channels]                      # optional: channel value -> channel family
    phone = ["ivr", "agent_call"]
    internal_channels = ["back_office"]

A group given in the file replaces the default group of that name (write ``"+verification"``
to add to the default instead).

Regulatory checks (online ID check, face verification, step-up authentication, AML screening)
are deliberately *not* in the default verification group: they are required (domain.md 6.5,
decoys D1-D3), so counting them as repeats would point at steps a bank must keep.

>>> g = ActivityGroups.default()
>>> g.group_of("verify_identity"), g.group_of("身份核验"), g.group_of("Transfer Call")
('verification', 'verification', 'transfer')
>>> g.channel_family("phone_ivr"), g.channel_family("Mobile App"), g.channel_family("back_office")
('phone', 'app', None)
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowlens.errors import ConfigError
from flowlens.i18n import PM_

#: Group name -> activity names (English, Simplified Chinese). Matched after :func:`normalise`.
DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {
    # The customer proves who they are (again).
    "verification": (
        "Verify Identity",
        "Identity Verification",
        "Verify ID",
        "ID Verification",
        "ID Check",
        "Verify Customer",
        "Customer Verification",
        "Authenticate Customer",
        "Customer Authentication",
        "Authentication",
        "IVR Authentication",
        "IVR Auth",
        "Bot Authenticates",
        "Bot Authentication",
        "Chat Authentication",
        "KBA",
        "Knowledge-Based Authentication",
        "Security Questions",
        "Security Check",
        "OTP Verification",
        "Re-verify Identity",
        "Reverify Identity",
        "Video ID Verification",
        "身份核验",
        "身份验证",
        "身份认证",
        "核实身份",
        "验证身份",
        "核验身份",
        "客户身份核实",
        "客户身份验证",
        "语音身份认证",
        "机器人身份认证",
        "视频身份核验",
    ),
    # The bank asks the customer for documents or information.
    "information_request": (
        "Request Documents",
        "Request Additional Documents",
        "Request Missing Documents",
        "Request Information",
        "Request Additional Information",
        "Request More Information",
        "Ask for Documents",
        "Ask for Information",
        "Call for Missing Documents",
        "Call Incomplete Files",
        "W_Call incomplete files",
        "Missing Documents Request",
        "补充材料",
        "补充材料通知",
        "要求补充材料",
        "补充资料",
        "索取材料",
        "要求补充信息",
        "请求补充信息",
        "催补材料",
        "催补材料电话",
    ),
    # The customer repeats what they already said or gave.
    "repeat_information": (
        "Re-explain Issue",
        "Re-explain",
        "Repeat Information",
        "Re-enter Customer Information",
        "Re-enter Data",
        "Re-enter Information",
        "Rephrase Question",
        "Repeat Question",
        "重复说明问题",
        "重复说明",
        "重新录入客户信息",
        "重新填写",
        "重新描述问题",
    ),
    # The contact is passed to another agent or team.
    "transfer": (
        "Transfer",
        "Transfer Call",
        "Call Transfer",
        "Warm Transfer",
        "Cold Transfer",
        "Warm Transfer Briefing",
        "Transfer to Specialist",
        "Transfer to Agent",
        "Transfer to Department",
        "Transfer Chat",
        "转接",
        "转接电话",
        "电话转接",
        "转接交接说明",
        "转接专家坐席",
    ),
    # The customer gives up (hangs up in the queue, abandons an application).
    "abandonment": (
        "Abandon",
        "Abandoned",
        "Abandon Call",
        "Abandoned Call",
        "Call Abandoned",
        "Abandon Chat",
        "Abandon Application",
        "Application Abandoned",
        "Hang Up",
        "Hung Up",
        "Customer Hung Up",
        "Caller Abandoned",
        "Leave Queue",
        "Left Queue",
        "放弃",
        "放弃来电",
        "放弃通话",
        "放弃申请",
        "挂断",
        "客户挂断",
        "离开排队",
    ),
    # The contact waits for an agent: a contact that ends here was abandoned in the queue, and
    # contacts that queued are the denominator of the abandonment rate ("offered").
    "queue": (
        "Queue",
        "Enter Queue",
        "In Queue",
        "Queued",
        "Wait in Queue",
        "Waiting in Queue",
        "Call Queued",
        "排队",
        "进入排队",
        "排队等待",
    ),
    # A person (not IVR or bot) takes the contact: the denominator of the transfer rate.
    "handled": (
        "Agent Answers",
        "Agent Answer",
        "Answer Call",
        "Call Answered",
        "Agent Joins Chat",
        "Agent Joins",
        "Service",
        "Talk",
        "Agent Talk",
        "坐席接听",
        "人工接听",
        "人工坐席接入",
        "人工服务",
    ),
}

#: Channel family -> channel values (matched after :func:`normalise`); unknown values are their
#: own family. IVR and agent legs of one call are both "phone", so they are no channel switch.
DEFAULT_CHANNELS: dict[str, tuple[str, ...]] = {
    "phone": (
        "phone",
        "telephone",
        "call",
        "voice",
        "ivr",
        "vru",
        "phone ivr",
        "phone agent",
        "call center",
        "call centre",
        "callcenter",
        "contact center",
        "contact centre",
        "hotline",
        "outbound call",
        "inbound call",
        "电话",
        "电话银行",
        "热线",
        "客服热线",
        "语音",
    ),
    "chat": (
        "chat",
        "chatbot",
        "bot",
        "webchat",
        "web chat",
        "live chat",
        "online chat",
        "im",
        "wechat",
        "在线客服",
        "智能客服",
        "微信",
        "聊天机器人",
    ),
    "app": ("app", "mobile", "mobile app", "mobile banking", "手机银行", "手机app", "app端"),
    "web": (
        "web",
        "online",
        "internet",
        "internet banking",
        "online banking",
        "website",
        "portal",
        "网银",
        "网上银行",
        "官网",
    ),
    "branch": ("branch", "counter", "teller", "in person", "网点", "柜台", "营业厅", "营业网点"),
    "email": ("email", "e-mail", "mail", "letter", "letter email", "post", "邮件", "信函"),
    "video": ("video", "video call", "视频", "视频客服"),
}

#: The channel families and activity groups in the report's words (flowlens's own names, not
#: values from the log: a value outside them is shown as it is).
CHANNEL_WORDS = {
    "phone": PM_("channel family", "phone"),
    "chat": PM_("channel family", "chat"),
    "app": PM_("channel family", "app"),
    "web": PM_("channel family", "web"),
    "branch": PM_("channel family", "branch"),
    "email": PM_("channel family", "email"),
    "video": PM_("channel family", "video"),
}


def channel_text(family: str) -> str:
    """A channel family as a sentence names it (a :class:`~flowlens.i18n.Message` for
    flowlens's own families, so the report says it in its language).

    >>> channel_text("phone"), channel_text("kiosk")
    ('phone', 'kiosk')
    """
    return CHANNEL_WORDS.get(family, family)


#: Channel values that are not a customer contact (work the bank does out of sight).
DEFAULT_INTERNAL_CHANNELS: tuple[str, ...] = (
    "back office",
    "backoffice",
    "system",
    "internal",
    "batch",
    "后台",
    "系统",
    "内部",
)

#: The groups the customer's view uses, in display order.
GROUP_NAMES = tuple(DEFAULT_GROUPS)


def normalise(name: object) -> str:
    """Lower case, ``_``/``-``/runs of spaces as one space, trimmed (full-width spaces too).

    >>> normalise("  Verify_Identity "), normalise("Re-Explain  Issue")
    ('verify identity', 're explain issue')
    """
    return re.sub(r"[\s_\-\u3000]+", " ", str(name)).strip().lower()


@dataclass(frozen=True)
class ActivityGroups:
    """Activity groups and channel families, with where they came from."""

    groups: dict[str, tuple[str, ...]]
    channels: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    internal_channels: tuple[str, ...] = DEFAULT_INTERNAL_CHANNELS
    source: str = "defaults"

    @classmethod
    def default(cls) -> ActivityGroups:
        return cls(groups=dict(DEFAULT_GROUPS))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "mapping") -> ActivityGroups:
        """Defaults updated by ``data`` (``{group: [names]}``, ``"+group"`` to extend, optional
        ``channels`` table and ``internal_channels`` list)."""
        groups = dict(DEFAULT_GROUPS)
        channels = dict(DEFAULT_CHANNELS)
        internal = DEFAULT_INTERNAL_CHANNELS
        for key, value in data.items():
            if key == "channels":
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{source}: 'channels' must map a family to a list of values")
                for fam, vals in value.items():
                    channels[str(fam)] = _names(vals, f"{source}: channels.{fam}")
                continue
            if key == "internal_channels":
                internal = _names(value, f"{source}: internal_channels")
                continue
            names = _names(value, f"{source}: group '{key}'")
            if key.startswith("+"):
                base = key[1:]
                groups[base] = (*groups.get(base, ()), *names)
            else:
                groups[key] = names
        return cls(groups=groups, channels=channels, internal_channels=internal, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> ActivityGroups:
        """Read a JSON or TOML groups file (see the module docstring)."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(
                f"groups file {p} not found", hint="give a JSON or TOML file {group: [activity names]}"
            )
        text = p.read_text(encoding="utf-8-sig")
        try:
            data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"groups file {p} is not valid {p.suffix.lstrip('.').upper() or 'JSON'}: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(f"groups file {p} must hold an object {{group: [activity names]}}")
        return cls.from_mapping(data, source=str(p))

    @classmethod
    def resolve(cls, value: ActivityGroups | str | Path | Mapping[str, Any] | None) -> ActivityGroups:
        """Groups from ``None`` (defaults), a file path, a mapping or an instance."""
        if value is None:
            return cls.default()
        if isinstance(value, ActivityGroups):
            return value
        if isinstance(value, Mapping):
            return cls.from_mapping(value)
        return cls.from_file(value)

    # -- lookups --------------------------------------------------------------------------
    def _index(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for g, names in self.groups.items():
            for n in names:
                out.setdefault(normalise(n), g)
        return out

    def group_of(self, activity: str) -> str | None:
        """The group an activity belongs to (the first group listing it), or None."""
        return self._index().get(normalise(activity))

    def members(self, activities: Iterable[str]) -> dict[str, list[str]]:
        """For each group, the given activity names that belong to it (sorted)."""
        index: dict[str, set[str]] = {}
        for g, names in self.groups.items():
            for n in names:
                index.setdefault(normalise(n), set()).add(g)
        out: dict[str, list[str]] = {g: [] for g in self.groups}
        for a in activities:
            for g in index.get(normalise(a), ()):
                out[g].append(a)
        return {g: sorted(v) for g, v in out.items()}

    def channel_family(self, value: object) -> str | None:
        """The channel family of a channel value; None for internal channels and nulls."""
        if value is None:
            return None
        v = normalise(value)
        if not v or v in {normalise(x) for x in self.internal_channels}:
            return None
        for fam, vals in self.channels.items():
            if v == normalise(fam) or v in {normalise(x) for x in vals}:
                return fam
        return v

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "groups": {g: list(v) for g, v in self.groups.items()},
            "channels": {f: list(v) for f, v in self.channels.items()},
            "internal_channels": list(self.internal_channels),
        }


def _names(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{what} must be a list of names, got {value!r}")
    names = tuple(str(v) for v in value)
    if not all(n.strip() for n in names):
        raise ConfigError(f"{what} contains an empty name")
    return names


__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_GROUPS",
    "DEFAULT_INTERNAL_CHANNELS",
    "GROUP_NAMES",
    "ActivityGroups",
    "normalise",
]
