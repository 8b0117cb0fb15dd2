"""The rest of bauplan's CLI through the real binary: init, version, parameter, config and
profiles, branch checkout, the list/delete/drop aliases, --if-exists/--if-not-exists,
merge --commit-message, commit's author filters and branch diff's format."""

import os
import re
import stat

import pytest
import yaml
from cli_harness import TAXI
from stub_server import stub_server

ZONES = TAXI / "data" / "taxi_zones.csv"


def fails(sluice, *args, **kwargs):
    proc = sluice(*args, check=False, **kwargs)
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    return proc.stderr


# -- version and init ------------------------------------------------------------------


def test_version_both_ways(sluice):
    assert re.fullmatch(r"sluice \d+\.\d+\.\d+\n", sluice("--version").stdout)
    assert sluice("version").stdout.startswith("sluice ")
    assert sluice.json("version")["bauplan_compatible"] == "0.2.0-rc.2"


def test_init_makes_bauplans_project_shape_and_it_runs_as_created(sluice, tmp_path):
    target = tmp_path / "first_pipeline"
    sluice("init", target)
    assert sorted(p.name for p in target.iterdir()) == ["bauplan_project.yaml", "models.py", "pyproject.toml"]
    project = yaml.safe_load((target / "bauplan_project.yaml").read_text())
    assert project["project"]["name"] == "first_pipeline"
    assert re.fullmatch(r"[0-9a-f-]{36}", project["project"]["id"])
    assert 'name = "first_pipeline"' in (target / "pyproject.toml").read_text()
    # bauplan's own check: a strict dry run of the template succeeds, even on main.
    sluice("run", "--dry-run", "--strict", "-p", target)
    sluice("checkout", "-b", "tester.dev")
    out = sluice("run", "-p", target).stdout
    assert "survival_rate_by_age" in out and "test_age" in out and "succeeded" in out


def test_init_in_the_current_directory_with_a_name_and_never_over_a_project(sluice, tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    (here / "models.py").write_text("# mine\n")
    sluice("init", "--name", "my_pipeline", cwd=here)
    assert yaml.safe_load((here / "bauplan_project.yaml").read_text())["project"]["name"] == "my_pipeline"
    assert (here / "models.py").read_text() == "# mine\n"  # kept, as bauplan keeps it
    before = (here / "bauplan_project.yaml").read_text()
    err = fails(sluice, "init", here)
    assert "already a project" in err and "bauplan_project.yaml" in err
    assert (here / "bauplan_project.yaml").read_text() == before
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "bauplan_project.yml").write_text("project: {id: x, name: old}\n")
    assert "bauplan_project.yml" in fails(sluice, "init", legacy)
    assert not (legacy / "bauplan_project.yaml").exists()


def test_init_hostile_name_stays_one_quoted_value(sluice, tmp_path):
    name = 'evil"\nparameters:\n  x: {type: int}\n# '
    sluice("init", tmp_path / "p", "--name", name)
    project = yaml.safe_load((tmp_path / "p" / "bauplan_project.yaml").read_text())
    assert project == {"project": {"id": project["project"]["id"], "name": name}}
    assert "\nparameters" not in (tmp_path / "p" / "pyproject.toml").read_text()


# -- parameters --------------------------------------------------------------------------

PARAM_MODELS = """\
    import bauplan

    @bauplan.model()
    def show(token=bauplan.Parameter("api_token"), min_Fare=bauplan.Parameter("min_Fare"),
             note=bauplan.Parameter("note")):
        import pyarrow as pa
        print("got", repr(token), repr(min_Fare), repr(note))
        return pa.table({"PassengerId": [1]})
    """

PROJECT_WITH_COMMENTS = """\
    # my pipeline
    project:
      id: 00000000-0000-4000-8000-000000000002
      name: params  # the name
    parameters:
      min_Fare: {type: float, default: 7.25, description: "cheapest fare"}

    # the defaults follow
    defaults:
      python: {version: "3.11"}
    """


@pytest.fixture
def param_project(make_project):
    return make_project({"models.py": PARAM_MODELS}, project_yml=PROJECT_WITH_COMMENTS)


def test_parameter_set_ls_rm_edit_only_the_parameters_block(sluice, param_project):
    p = param_project
    sluice("parameter", "set", "note", "hello", "-p", p, "--description", "a note")
    sluice("parameter", "set", "min_Fare", "12", "--type", "int", "-p", p, "--required")
    sluice("parameter", "set", "--name", "flag", "--value", "on", "--type", "bool", "-p", p)  # older form
    listed = {x["name"]: x for x in sluice.json("parameter", "ls", "-p", p)}
    assert listed["min_Fare"] == {
        "name": "min_Fare",
        "type": "int",
        "default": 12,
        "required": True,
        "description": "cheapest fare",
    }
    assert listed["note"]["default"] == "hello" and listed["note"]["description"] == "a note"
    assert listed["flag"]["default"] is True
    text = sluice("parameter", "list", "-p", p).stdout
    assert text.splitlines()[0].split() == ["NAME", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"]
    assert re.search(r"min_Fare\s+int\s+required\s+12\s+cheapest fare", text)
    sluice("parameter", "delete", "flag", "-p", p)
    sluice("parameter", "rm", "--name", "note", "-p", p)
    file_text = (p / "bauplan_project.yml").read_text()
    # Everything outside parameters: is byte for byte what the user wrote.
    assert file_text.startswith(
        "# my pipeline\nproject:\n  id: 00000000-0000-4000-8000-000000000002\n"
        "  name: params  # the name\nparameters:\n"
    )
    assert file_text.endswith('\n# the defaults follow\ndefaults:\n  python: {version: "3.11"}\n')
    assert list(yaml.safe_load(file_text)["parameters"]) == ["min_Fare"]


def test_parameter_errors_are_one_line_and_leave_the_file_alone(sluice, param_project, tmp_path):
    p = param_project
    before = (p / "bauplan_project.yml").read_text()
    err = fails(sluice, "parameter", "rm", "missing_one", "-p", p)
    assert "parameter 'missing_one' not found" in err and "min_Fare" in err
    assert "is not a valid int" in fails(sluice, "parameter", "set", "n", "twelve", "--type", "int", "-p", p)
    assert "is not a valid bool" in fails(sluice, "parameter", "set", "b", "maybe", "--type", "bool", "-p", p)
    assert "invalid parameter name" in fails(sluice, "parameter", "set", "a.b", "1", "-p", p)
    assert "invalid parameter name" in fails(sluice, "parameter", "set", "a b", "1", "-p", p)
    err = fails(sluice, "parameter", "set", "min_Fare", "--type", "int", "-p", p)
    assert "without also changing its default" in err
    (tmp_path / "v.txt").write_text("x")
    assert "both a value and --file" in fails(
        sluice, "parameter", "set", "n", "1", "-f", tmp_path / "v.txt", "-p", p
    )
    assert (p / "bauplan_project.yml").read_text() == before
    empty = tmp_path / "not_a_project"
    empty.mkdir()
    err = fails(sluice, "parameter", "set", "n", "1", "-p", empty)
    assert "no bauplan_project.yml" in err and "sluice init" in err
    assert "does not exist" in fails(sluice, "parameter", "ls", "-p", tmp_path / "nowhere")


def test_parameter_value_with_yaml_injection_is_one_string(sluice, lake, param_project):
    p = param_project
    hostile = 'x"\nrequired: true\nparameters: {owned: 1}\n: "'
    sluice("parameter", "set", "note", hostile, "-p", p)
    sluice("parameter", "set", "api_token", "t", "-p", p)
    parsed = yaml.safe_load((p / "bauplan_project.yml").read_text())
    assert set(parsed["parameters"]) == {"min_Fare", "note", "api_token"}
    assert parsed["parameters"]["note"] == {"type": "str", "default": hostile}
    out = lake("run", "-p", p).stdout
    assert "got 't' 7.25 " + repr(hostile) in out


def test_secret_parameter_is_ciphertext_on_disk_and_clear_in_the_model(sluice, lake, param_project, tmp_path):
    p = param_project
    secret = "s3cr3t: pa$$word\nline two"
    sluice("parameter", "set", "note", "n", "-p", p)
    sluice("parameter", "set", "api_token", secret, "--type", "secret", "-p", p)
    file_text = (p / "bauplan_project.yml").read_text()
    assert "s3cr3t" not in file_text and "pa$$word" not in file_text
    sealed = yaml.safe_load(file_text)["parameters"]["api_token"]
    assert sealed["type"] == "secret" and sealed["default"].startswith("sluice-secret:v1:")
    key = lake.home / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "********" in sluice("parameter", "ls", "-p", p).stdout
    assert secret not in sluice("parameter", "ls", "-p", p).stdout
    # An SQL model reads the secret as a $param too: in clear, like a Python model.
    (p / "token_seen.sql").write_text(
        "-- bauplan: materialization_strategy=REPLACE\nSELECT $api_token AS token FROM taxi_zones LIMIT 1\n"
    )
    out = lake("run", "-p", p).stdout
    assert "got " + repr(secret) in out
    assert lake.query("SELECT token FROM token_seen", "dev") == [{"token": secret}]
    # A clear value given for the run wins, as any --param does.
    assert "got 'given'" in lake("run", "-p", p, "--param", "api_token=given").stdout

    # Another data home's key cannot open it: one clear error, nothing written.
    good = key.read_bytes()
    key.write_text("ab" * 32 + "\n")
    head = lake.head("dev")
    err = fails(lake, "run", "-p", p)
    assert "secret parameter 'api_token' cannot be decrypted" in err and str(key) in err
    assert lake.head("dev") == head
    key.unlink()
    assert "no secret key" in fails(lake, "run", "-p", p)
    key.write_bytes(good)
    key.chmod(0o644)
    assert "readable by other users" in fails(lake, "run", "-p", p)
    key.chmod(0o600)
    # A sealed value copied to another parameter does not open there.
    (p / "bauplan_project.yml").write_text(
        file_text.replace(
            'note:\n    type: str\n    default: "n"',
            'note:\n    type: secret\n    default: "' + sealed["default"] + '"',
        )
    )
    assert "secret parameter 'note'" in fails(lake, "run", "-p", p)


# -- config and profiles -----------------------------------------------------------------


@pytest.fixture
def recorder():
    with stub_server([{"name": "main", "kind": "branch", "commit": "0" * 64}]) as (url, seen):
        yield url, seen


def config_path(sluice):
    return sluice.env["SLUICE_CONFIG_PATH"]


def test_config_set_get_profiles_and_a_0600_file(sluice):
    sluice("config", "set", "api_key", "key-for-default-1234")
    sluice("config", "set", "endpoint", "http://127.0.0.1:9", "-P", "remote")
    sluice("--profile", "remote", "config", "set", "api_endpoint", "http://127.0.0.1:8")  # bauplan's name
    assert stat.S_IMODE(os.stat(config_path(sluice)).st_mode) == 0o600
    parsed = yaml.safe_load(open(config_path(sluice)).read())
    assert parsed["profiles"]["default"] == {"api_key": "key-for-default-1234", "active_branch": "main"}
    assert parsed["profiles"]["remote"] == {"endpoint": "http://127.0.0.1:8"}
    shown = sluice.json("config", "get")
    assert shown["name"] == "default" and shown["api_key"].endswith("1234")
    assert "key-for-default" not in sluice("config", "get").stdout  # masked
    assert sluice.json("-P", "remote", "config", "get")["endpoint"] == "http://127.0.0.1:8"
    assert [p["name"] for p in sluice.json("config", "get", "--all")] == ["default", "remote"]
    assert sluice("config", "get", "endpoint", "-P", "remote").stdout == "http://127.0.0.1:8\n"
    sluice.env, saved = dict(sluice.env, SLUICE_PROFILE="remote"), sluice.env
    try:
        assert sluice.json("config", "get")["name"] == "remote"
        assert sluice.json("-P", "default", "config", "get")["name"] == "default"  # the flag wins
    finally:
        sluice.env = saved


def test_config_failure_paths(sluice):
    err = fails(sluice, "-P", "nope", "branch", "ls")
    assert "profile 'nope'" in err and "sluice config set" in err
    assert "invalid profile name '../etc'" in fails(sluice, "config", "set", "api_key", "k", "-P", "../etc")
    assert "invalid profile name" in fails(sluice, "-P", "../../x", "config", "get")
    assert not (sluice.home.parent / "etc").exists()
    assert "unknown setting 'password'" in fails(sluice, "config", "set", "password", "x")
    assert "not an http" in fails(sluice, "config", "set", "endpoint", "file:///etc/passwd")
    with open(config_path(sluice), "w") as f:
        f.write("profiles: [oops\n")
    assert "invalid YAML" in fails(sluice, "config", "get")


def test_world_readable_config_warns_and_set_makes_it_private(sluice):
    with open(config_path(sluice), "w") as f:
        f.write("profiles:\n  default:\n    api_key: leaked\n")
    os.chmod(config_path(sluice), 0o644)
    proc = sluice("config", "get")
    assert "readable by other users" in proc.stderr and "chmod 600" in proc.stderr
    sluice("config", "set", "active_branch", "main")
    assert stat.S_IMODE(os.stat(config_path(sluice)).st_mode) == 0o600
    assert "readable by other users" not in sluice("config", "get").stderr


def test_profile_endpoint_and_api_key_reach_the_server_as_bearer(sluice, recorder):
    url, seen = recorder
    sluice("config", "set", "endpoint", url, "-P", "team")
    sluice("config", "set", "api_key", "team-key", "-P", "team")
    sluice("-P", "team", "branch", "ls")
    assert seen[-1] == ("/api/v1/branches", "Bearer team-key")
    env = dict(sluice.env, SLUICE_API_KEY="from-env")
    sluice.env, saved = env, sluice.env
    try:
        sluice("-P", "team", "tag", "ls")
    finally:
        sluice.env = saved
    assert seen[-1] == ("/api/v1/tags", "Bearer from-env")
    # Without a profile endpoint the default profile stays embedded: nothing reaches the server.
    count = len(seen)
    sluice("branch", "ls")
    assert len(seen) == count


def test_checkout_writes_the_profiles_active_branch(sluice):
    sluice("config", "set", "api_key", "k")
    sluice("branch", "checkout", "tester.dev", "-b")
    assert (
        yaml.safe_load(open(config_path(sluice)).read())["profiles"]["default"]["active_branch"]
        == "tester.dev"
    )
    assert sluice.json("config", "get")["active_branch"] == "tester.dev"
    assert "* tester.dev" in sluice("branch", "ls").stdout


# -- branches, tags, namespaces, commits -------------------------------------------------


def test_branch_checkout_and_the_aliases(lake):
    lake("branch", "create", "tester.feature")
    lake("branch", "checkout", "tester.feature")
    assert "* tester.feature" in lake("branch", "list").stdout
    assert "--from-ref can only be used with -b" in fails(
        lake, "branch", "checkout", "dev", "--from-ref", "main"
    )
    lake("branch", "checkout", "-b", "tester.other", "--from-ref", "dev")
    assert [b["name"] for b in lake.json("branch", "ls", "tester.")] == ["tester.feature", "tester.other"]
    assert [b["name"] for b in lake.json("branch", "ls", "--user", "tester", "--limit", "1")] == [
        "tester.feature"
    ]
    lake("branch", "delete", "tester.feature")
    assert "tester.feature" not in lake("branch", "ls").stdout
    assert "not found" in fails(lake, "branch", "checkout", "tester.feature")


def test_if_exists_and_if_not_exists(lake):
    err = fails(lake, "branch", "create", "dev")
    assert "already exists" in err
    proc = lake("branch", "create", "dev", "--if-not-exists")
    assert 'Branch "dev" already exists' in proc.stderr
    lake("branch", "rm", "ghost", "--if-exists")
    assert "not found" in fails(lake, "branch", "rm", "ghost")
    lake("tag", "create", "v1")
    assert 'Tag "v1" already exists' in lake("tag", "create", "v1", "--if-not-exists").stderr
    # A tag does not satisfy --if-not-exists for a branch of the same name.
    assert "already exists" in fails(lake, "branch", "create", "v1", "--if-not-exists")
    assert [t["name"] for t in lake.json("tag", "list")] == ["v1"]
    lake("tag", "delete", "v1")
    lake("tag", "rm", "v1", "--if-exists")
    assert "not found" in fails(lake, "tag", "rm", "v1")
    lake("namespace", "create", "Raw_Zone")
    lake("namespace", "create", "Raw_Zone", "--if-not-exists")
    assert "Raw_Zone" in lake.json("namespace", "list")
    lake("namespace", "drop", "Raw_Zone")
    lake("namespace", "delete", "Raw_Zone", "--if-exists")
    assert "Raw_Zone" not in lake.json("namespace", "ls")


def test_merge_with_a_commit_message_and_commit_filters(lake, tmp_path):
    lake("branch", "create", "tester.work", "--from-ref", "dev")
    more = tmp_path / "more_zones.csv"
    more.write_bytes(ZONES.read_bytes())
    lake("table", "import", "taxi_zones", "--search-uri", more, "--branch", "tester.work")
    lake("namespace", "create", "Staging")  # dev moves on too: a real merge commit
    lake("branch", "merge", "tester.work", "--commit-message", "Bring PULocationID zones")
    head = lake.json("commit", "dev", "--limit", "1")[0]
    assert head["message"] == "Bring PULocationID zones"
    assert len(lake.json("commit", "dev", "--author-name", "^test")) >= 3
    assert lake.json("commit", "dev", "--author-username", "^nobody$") == []
    assert lake.json("commit", "dev", "--author-email", ".") == []
    assert "not a valid regular expression" in fails(lake, "commit", "--author-name", "(")
    oneline = lake("commit", "dev", "--format", "oneline", "-n", "2").stdout.splitlines()
    assert len(oneline) == 2 and "Bring PULocationID zones" in oneline[0]
    short = lake("commit", "dev", "--pretty", "short", "--limit", "1").stdout
    assert short.startswith("commit ") and "Author: tester" in short and "Date" not in short
    assert "Commit Date:" in lake("commit", "--format", "fuller", "--limit", "1").stdout


def test_commit_shows_ten_by_default_on_a_terminal(lake):
    for i in range(11):
        lake("namespace", "create", f"ns{i}")
    assert sum(line.startswith("commit ") for line in lake("commit", "dev").stdout.splitlines()) == 10
    assert len(lake.json("commit", "dev")) > 10


def test_branch_diff_prints_bauplans_format(lake):
    lake("branch", "create", "tester.b", "--from-ref", "dev")
    lake("table", "create", "Raw.amountStats", "--search-uri", ZONES, "--branch", "tester.b")
    lake("table", "rm", "taxi_trips", "--branch", "tester.b")
    out = lake("branch", "diff", "dev", "tester.b").stdout
    lines = out.splitlines()
    assert lines[0] == "diff --bauplan a/dev b/tester.b"
    assert "+TABLE Raw.amountStats" in lines and "-TABLE bauplan.taxi_trips" in lines
    assert lines.index("+TABLE Raw.amountStats") < lines.index("-TABLE bauplan.taxi_trips")
    only_raw = lake("branch", "diff", "dev", "tester.b", "--namespace", "Raw").stdout.splitlines()
    assert only_raw == ["diff --bauplan a/dev b/tester.b", "+TABLE Raw.amountStats"]
    lake("checkout", "tester.b")
    assert lake("branch", "diff", "dev").stdout.splitlines()[0] == "diff --bauplan a/dev b/tester.b"
    assert "with itself" in fails(lake, "branch", "diff", "tester.b")


def test_client_timeout_bounds_a_remote_answer(sluice):
    import time

    with stub_server([], delay=5) as (url, _):
        started = time.monotonic()
        err = fails(sluice, "--endpoint", url, "--client-timeout", "1", "branch", "ls")
        assert time.monotonic() - started < 4 and "cannot reach" in err
        assert "expected seconds > 0" in fails(
            sluice, "--endpoint", url, "--client-timeout", "0", "tag", "ls"
        )


def test_info_names_the_version_and_profile(sluice):
    info = sluice.json("info")
    assert info["version"] == sluice.json("version")["version"]
    assert info["profile"] == "default" and info["config_file"] == config_path(sluice)
