"""Every setting of the service, read from the environment in one place (DESIGN §4).

``load_settings()`` returns a frozen :class:`Settings`; a bad value raises
:class:`ConfigError` whose message is one line naming the variable and what is
wrong. Nothing else in the code reads ``os.environ`` for settings.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from dispatch.hours import HoursError, WeeklyHours

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A configuration value that cannot be used. ``str(err)`` is the one line to print."""


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    redis_url: str | None
    telephony: str
    twilio_account_sid: str | None
    twilio_auth_token: str
    twilio_phone_number: str
    twilio_messaging_service_sid: str | None
    twilio_api_base_url: str | None
    public_base_url: str
    secret_key: str
    sio_name: str
    timezone: ZoneInfo
    service_hours: WeeklyHours
    nurse_texting_hours: WeeklyHours
    usual_nurse_wait_s: int
    usual_nurse_wait_planned_s: int
    wave_sizes: tuple[int, ...]
    wave_wait_s: int
    give_up_s: int
    confirm_retry_s: int
    voice: str
    radius_km: tuple[int, ...]
    dispatch_policy: str = "adaptive"
    metrics_token: str | None = None
    metrics_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)


TWILIO_VARIABLES = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PHONE_NUMBER",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_API_BASE_URL",
)
#: What Twilio mode cannot run without (a Messaging Service replaces no variable: calls need the number).
TWILIO_REQUIRED = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER")


def simulator_auth_token(secret_key: str) -> str:
    """The token the simulator signs its webhooks with: derived from this instance's secret key,
    so every process of the instance shares it and no two instances have the same (the webhooks
    check signatures in the simulator too: a constant would let anyone forge them)."""
    return hmac.new(secret_key.encode(), b"sio.simulator-auth-token", hashlib.sha256).hexdigest()


def _telephony(env: Mapping[str, str], public: str) -> str:
    """``twilio`` unless ``TELEPHONY=simulator`` is asked for, and never a half configuration.

    The simulator accepts any text as a nurse's answer: it runs only when asked for, and never
    where a real phone network could reach the service (an https address, a Twilio variable).
    """
    raw = (env.get("TELEPHONY") or "").strip().lower()
    telephony = raw or "twilio"
    if telephony not in ("twilio", "simulator"):
        raise ConfigError(f"TELEPHONY={raw!r}: expected 'twilio' or 'simulator'")
    present = [name for name in TWILIO_VARIABLES if (env.get(name) or "").strip()]
    if telephony == "simulator":
        if present:
            raise ConfigError(
                f"{present[0]} is set, but TELEPHONY=simulator: the simulator never runs with a Twilio "
                "variable set (unset the TWILIO_ variables, or set TELEPHONY=twilio)"
            )
        if public.startswith("https://"):
            raise ConfigError(
                f"TELEPHONY=simulator with PUBLIC_BASE_URL={public!r}: the simulator never runs on a public "
                "https address (set TELEPHONY=twilio and the TWILIO_ variables)"
            )
        return telephony
    for name in TWILIO_REQUIRED:
        if name not in present:
            how = "TELEPHONY=twilio" if raw else "without TELEPHONY=simulator the service runs on Twilio, which"
            raise ConfigError(
                f"{name} is not set: {how} needs {', '.join(TWILIO_REQUIRED)} "
                "(to try the service without a phone account: TELEPHONY=simulator, or make run)"
            )
    return telephony


def run_defaults(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What ``sio run`` (and so ``make run``) adds to its environment: the simulator, when nothing
    names a telephony, no Twilio variable is set and the address is not a public https one."""
    env = read_environment() if environ is None else environ
    quiet = not (env.get("TELEPHONY") or "").strip() and not any((env.get(n) or "").strip() for n in TWILIO_VARIABLES)
    if quiet and not (env.get("PUBLIC_BASE_URL") or "").startswith("https://"):
        return {"TELEPHONY": "simulator"}
    return {}


def _metrics_networks(env: Mapping[str, str]) -> tuple:
    raw = (env.get("METRICS_NETWORKS") or "").strip()
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"METRICS_NETWORKS={raw!r}: expected addresses or networks separated by commas, e.g. 10.0.0.0/8,::1"
        ) from None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number of seconds") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def _int_list(env: Mapping[str, str], name: str, default: str, *, minimum: int) -> tuple[int, ...]:
    raw = env.get(name, "").strip() or default
    try:
        values = tuple(int(x) for x in raw.split(","))
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected whole numbers separated by commas, e.g. {default}") from None
    if not values or any(v < minimum for v in values):
        raise ConfigError(f"{name}={raw!r}: every value must be at least {minimum}")
    return values


def _hours(env: Mapping[str, str], name: str, default: str, *, holidays: bool) -> WeeklyHours:
    raw = env.get(name, "").strip() or default
    try:
        return WeeklyHours.parse(raw, closed_on_holidays=holidays)
    except HoursError as err:
        raise ConfigError(f"{name}={raw!r}: {err}") from None


def _secret_key(env: Mapping[str, str], instance: Path) -> str:
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"]
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def read_environment() -> dict[str, str]:
    """The process's environment over the ``.env`` file of the current folder, when there is one."""
    env = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
    env.update(os.environ)
    return env


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every variable of DESIGN §4 (and a ``.env`` file when present)."""
    env: dict[str, str] = dict(read_environment() if environ is None else environ)

    instance = Path(env.get("SIO_INSTANCE_PATH") or PROJECT_ROOT / "instance")
    sid = env.get("TWILIO_ACCOUNT_SID") or None
    token = env.get("TWILIO_AUTH_TOKEN") or None

    try:
        timezone = ZoneInfo(env.get("SIO_TIMEZONE") or "Europe/Paris")
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"SIO_TIMEZONE={env.get('SIO_TIMEZONE')!r}: unknown time zone") from None

    from dispatch.phones import PhoneError, normalize_phone

    number = env.get("TWILIO_PHONE_NUMBER") or "+33900000000"
    try:
        number = normalize_phone(number).e164
    except PhoneError as err:
        raise ConfigError(f"TWILIO_PHONE_NUMBER={number!r}: {err}") from None

    public = (env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    if not public.startswith(("http://", "https://")):
        raise ConfigError(f"PUBLIC_BASE_URL={public!r}: must start with http:// or https://")
    telephony = _telephony(env, public)
    redis_url = env.get("REDIS_URL") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"REDIS_URL={redis_url!r}: expected redis://host:port/db")
    policy = (env.get("DISPATCH_POLICY") or "adaptive").strip().lower()
    if policy not in ("fixed", "adaptive"):
        raise ConfigError(f"DISPATCH_POLICY={policy!r}: expected 'fixed' or 'adaptive'")

    secret_key = _secret_key(env, instance)
    return Settings(
        instance_path=instance,
        database_url=env.get("DATABASE_URL") or f"sqlite:///{instance / 'sio.db'}",
        redis_url=redis_url,
        telephony=telephony,
        twilio_account_sid=sid,
        twilio_auth_token=token if telephony == "twilio" else simulator_auth_token(secret_key),
        twilio_phone_number=number,
        twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID") or None,
        twilio_api_base_url=(env.get("TWILIO_API_BASE_URL") or "").rstrip("/") or None,
        public_base_url=public,
        secret_key=secret_key,
        sio_name=env.get("SIO_NAME") or "SIO",
        timezone=timezone,
        service_hours=_hours(env, "SERVICE_HOURS", "mon-sat 09:00-19:30", holidays=True),
        nurse_texting_hours=_hours(env, "NURSE_TEXTING_HOURS", "07:30-20:30", holidays=False),
        usual_nurse_wait_s=_int(env, "DISPATCH_USUAL_NURSE_WAIT_S", 600),
        usual_nurse_wait_planned_s=_int(env, "DISPATCH_USUAL_NURSE_WAIT_PLANNED_S", 7200),
        wave_sizes=_int_list(env, "DISPATCH_WAVE_SIZES", "3,5,10", minimum=1),
        wave_wait_s=_int(env, "DISPATCH_WAVE_WAIT_S", 600),
        give_up_s=_int(env, "DISPATCH_GIVE_UP_S", 7200, minimum=1),
        confirm_retry_s=_int(env, "CONFIRM_RETRY_S", 300),
        voice=env.get("SIO_VOICE") or "Polly.Lea",
        radius_km=_int_list(env, "DISPATCH_RADIUS_KM", "0,10,20", minimum=0),
        dispatch_policy=policy,
        metrics_token=(env.get("METRICS_TOKEN") or "").strip() or None,
        metrics_networks=_metrics_networks(env),
    )


SETTING_NAMES = tuple(f.name for f in fields(Settings))
