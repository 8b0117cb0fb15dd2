"""The client's configuration: profiles in a YAML file (the one `sluice config` manages).

    profiles:
      default:
        api_key: "..."                      # sent as Authorization: Bearer <key>
        endpoint: "http://127.0.0.1:8181"   # absent: embedded (the local data home)
        active_branch: "alice.dev"

File: the explicit path, else $SLUICE_CONFIG_PATH, else $BAUPLAN_CONFIG_PATH, else
~/.sluice/config.yml. Profile: explicit, else $SLUICE_PROFILE / $BAUPLAN_PROFILE, else
"default". API key: explicit, else $SLUICE_API_KEY / $BAUPLAN_API_KEY, else the profile's.
Endpoint: explicit, else $SLUICE_ENDPOINT, else the profile's. As in bauplan, an explicit
config file path turns the environment off.
"""

import dataclasses
import os
import pathlib

from sluice import exceptions


@dataclasses.dataclass
class Settings:
    profile: str
    api_key: str | None
    endpoint: str | None
    active_branch: str | None
    config_path: pathlib.Path


def _env(*names):
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


def config_path(explicit=None):
    if explicit:
        return pathlib.Path(explicit).expanduser()
    found = _env("SLUICE_CONFIG_PATH", "BAUPLAN_CONFIG_PATH")
    return pathlib.Path(found).expanduser() if found else pathlib.Path.home() / ".sluice" / "config.yml"


def _read_profiles(path):
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise exceptions.ConfigError(f"cannot read the config file {path}: {e}") from None
    profiles = data.get("profiles", {}) if isinstance(data, dict) else None
    if not isinstance(profiles, dict):
        raise exceptions.ConfigError(f"config file {path}: 'profiles' must be a mapping")
    return profiles


def resolve(profile=None, api_key=None, endpoint=None, config_file_path=None):
    use_env = config_file_path is None
    path = config_path(config_file_path)
    profiles = _read_profiles(path)
    name = profile or (use_env and _env("SLUICE_PROFILE", "BAUPLAN_PROFILE")) or "default"
    if name not in profiles and (profile or name != "default"):
        known = ", ".join(sorted(profiles)) or "none"
        raise exceptions.ConfigError(
            f"profile '{name}' not found in {path} (profiles: {known})",
            hint=f"create it with: sluice config set --profile {name} ...",
        )
    settings = profiles.get(name) or {}
    if not isinstance(settings, dict):
        raise exceptions.ConfigError(f"config file {path}: profile '{name}' must be a mapping")
    key = api_key or (use_env and _env("SLUICE_API_KEY", "BAUPLAN_API_KEY")) or settings.get("api_key")
    if key is not None and (not isinstance(key, str) or not key.isprintable() or key != key.strip()):
        raise exceptions.ConfigError("the API key must be one line of printable text")
    return Settings(
        profile=name,
        api_key=key,
        endpoint=endpoint or (use_env and _env("SLUICE_ENDPOINT")) or settings.get("endpoint"),
        active_branch=settings.get("active_branch"),
        config_path=path,
    )
