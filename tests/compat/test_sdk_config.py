"""Client(profile=, api_key=, config_file_path=): profiles from the config file, their
endpoints, the API key on the wire, and the environment's precedence (contracts §D)."""

import json
import textwrap

import pytest
from cli_harness import Sluice, call
from stub_server import stub_server

import bauplan
from bauplan import exceptions


@pytest.fixture
def recorder():
    """A stand-in server answering GET /api/v1/info; yields (url, seen)."""
    with stub_server({"user": "recorded", "runners": ["here"]}) as (url, seen):
        yield url, seen


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in (
        "SLUICE_ENDPOINT",
        "SLUICE_PROFILE",
        "BAUPLAN_PROFILE",
        "SLUICE_API_KEY",
        "BAUPLAN_API_KEY",
        "SLUICE_CONFIG_PATH",
        "BAUPLAN_CONFIG_PATH",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user_home"))
    return monkeypatch


def write_config(path, profiles):
    path.write_text(json.dumps({"profiles": profiles}))  # JSON is YAML
    return path


def test_profiles_choose_endpoint_and_key(clean_env, tmp_path, recorder):
    url, seen = recorder
    config = write_config(
        tmp_path / "config.yml",
        {
            "default": {"api_key": "key-default", "endpoint": url},
            "ci": {"api_key": "key-ci", "endpoint": url, "active_branch": "ci.branch"},
        },
    )
    clean_env.setenv("SLUICE_CONFIG_PATH", str(config))
    assert bauplan.Client().info().user.username == "recorded"
    bauplan.Client(profile="ci").info()
    clean_env.setenv("BAUPLAN_PROFILE", "ci")
    bauplan.Client().info()
    bauplan.Client(api_key="explicit").info()  # the explicit key beats the profile's
    clean_env.setenv("BAUPLAN_API_KEY", "from-env")
    bauplan.Client().info()
    assert [auth for _, auth in seen] == [
        "Bearer key-default",
        "Bearer key-ci",
        "Bearer key-ci",
        "Bearer explicit",
        "Bearer from-env",
    ]
    assert all(path == "/api/v1/info" for path, _ in seen)


def test_an_explicit_config_file_turns_the_environment_off(clean_env, tmp_path, recorder):
    url, seen = recorder
    config = write_config(tmp_path / "other.yml", {"default": {"api_key": "file-key", "endpoint": url}})
    clean_env.setenv("SLUICE_API_KEY", "env-key")
    clean_env.setenv("SLUICE_PROFILE", "nope")
    bauplan.Client(config_file_path=str(config)).info()
    assert seen[-1][1] == "Bearer file-key"


def test_the_default_file_is_under_home(clean_env, tmp_path, recorder):
    url, seen = recorder
    home = tmp_path / "user_home" / ".sluice"
    home.mkdir(parents=True)
    (home / "config.yml").write_text(
        textwrap.dedent(f"""\
        profiles:
          default:
            endpoint: "{url}"
        """)
    )
    bauplan.Client().info()
    assert seen == [("/api/v1/info", None)]  # no key configured: no header


def test_profile_endpoint_reaches_a_real_server(clean_env, tmp_path):
    server_home = Sluice(tmp_path / "server")
    with server_home.serving() as uri:
        config = write_config(tmp_path / "c.yml", {"remote": {"endpoint": uri}})
        client = bauplan.Client(profile="remote", config_file_path=str(config))
        assert client.create_branch("alice.dev", "main").name == "alice.dev"
        assert "alice.dev" in {
            b.name for b in bauplan.Client(profile="remote", config_file_path=str(config)).get_branches()
        }
    server_home.remove_shared_memory()


def test_bad_configuration_is_one_clear_error(clean_env, tmp_path):
    config = write_config(tmp_path / "config.yml", {"default": {}})
    with pytest.raises(exceptions.ConfigError, match="profile 'missing' not found"):
        bauplan.Client(profile="missing", config_file_path=str(config))
    bad = tmp_path / "bad.yml"
    bad.write_text("profiles: [unclosed")
    with pytest.raises(exceptions.ConfigError, match="cannot read"):
        bauplan.Client(config_file_path=str(bad))
    with pytest.raises(exceptions.ConfigError, match="not an http"):
        bauplan.Client(endpoint="ftp://example.org")
    # Hostile: a profile that is not a mapping, a key with a newline (header injection).
    write_config(config, {"default": "oops"})
    with pytest.raises(exceptions.ConfigError):
        bauplan.Client(config_file_path=str(config))
    with pytest.raises((ValueError, exceptions.BauplanError)):
        bauplan.Client(endpoint="http://127.0.0.1:9", api_key="k\r\nX-Evil: 1").info()


def test_an_unreachable_endpoint_is_a_typed_error(clean_env):
    client = bauplan.Client(endpoint="http://127.0.0.1:9", client_timeout=5)
    with pytest.raises(exceptions.ServiceUnavailableError, match="cannot reach"):
        client.get_branch("main")


def test_a_server_with_keys_checks_them(clean_env, tmp_path):
    import hashlib

    server_home = Sluice(tmp_path / "server")
    alice_key = server_home("key", "create", "--user", "alice", "--role", "writer").stdout.strip()
    digest = hashlib.sha256(alice_key.encode()).hexdigest()
    with server_home.serving() as uri:
        alice = bauplan.Client(endpoint=uri, api_key=alice_key)
        assert alice.info().user.username == "alice"
        alice.create_branch("alice.dev", "main")
        alice.create_namespace("ns", "alice.dev")
        # The key's user is the author, whatever the client claims: on the commit and on the job.
        assert next(alice.get_commits("alice.dev")).author.name == "alice"
        claim = {"name": "claimed", "branch": "alice.dev", "author": "mallory"}
        assert call(f"{uri}/api/v1/namespaces", "POST", claim, alice_key)[0] == 201
        commit = next(alice.get_commits("alice.dev"))
        assert commit.message == "create namespace claimed" and commit.author.name == "alice"
        query = {"sql": "SELECT 1 AS one", "ref": "alice.dev", "author": "mallory", "output": "json"}
        assert call(f"{uri}/api/v1/query", "POST", query, alice_key)[0] == 200
        assert [job.user for job in alice.get_jobs(all_users=True)] == ["alice"]
        with pytest.raises(exceptions.ConfigError):
            bauplan.Client(endpoint=uri, api_key=alice_key + "\r\nX-User: root")
        for key in (None, "wrong"):
            with pytest.raises(exceptions.UnauthorizedError) as error:
                bauplan.Client(endpoint=uri, api_key=key).get_branches().__next__()
            assert error.value.code == 401
            # Refused before any route: a write without a known key changes nothing.
            with pytest.raises(exceptions.UnauthorizedError):
                bauplan.Client(endpoint=uri, api_key=key).create_branch("mallory.x", "main")
        assert not alice.has_branch("mallory.x")
        # Iceberg REST clients need the key too.
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as http_error:
            urllib.request.urlopen(f"{uri}/v1/config")
        assert http_error.value.code == 401
        # The stored hash is no key.
        with pytest.raises(exceptions.UnauthorizedError):
            list(bauplan.Client(endpoint=uri, api_key=digest).get_branches())
    server_home.remove_shared_memory()


def test_a_keys_file_of_an_older_release_stops_the_server(clean_env, tmp_path):
    """Keys once lived in $SLUICE_HOME/api_keys: a server that ignored the file would be open."""
    server_home = Sluice(tmp_path / "server")
    server_home("branch", "ls")
    (server_home.home / "api_keys").write_text("alice " + "0" * 64 + "\n")
    proc = server_home("serve", "--port", "0", check=False, timeout=30)
    assert proc.returncode != 0 and "api_keys" in proc.stderr and "sluice key create" in proc.stderr
    assert "Traceback" not in proc.stderr
    server_home.remove_shared_memory()
