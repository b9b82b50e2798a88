"""Backend descriptions: loading ``projects/*/backend.toml``, names, worker command lines, environments."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import PROJECTS_DIR, REPO_ROOT
from bench.agent import run_agent
from bench.backends import APIS, BROKERS, PROFILES, Backend, get_backend, get_backends, load_backend, load_backends
from bench.errors import AgentError, BackendError, BackendUnavailable, UsageError
from bench.services import RedisServer
from tests.side_by_side import SideBySide

#: The four backends the suite was built around; more may be added, none may be missing.
REQUIRED = {"celery", "djangoq", "dramatiq", "huey"}


def write_toml(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "backend.toml").write_text(text)
    (folder / "manage.py").write_text("")
    return folder / "backend.toml"


MINIMAL = """
name = "fake"
label = "Fake"
django_package = "shop_fake"
distributions = ["psutil"]
api = "native"
broker = "redis"
[worker]
argv = ["python", "-c", "pass", "{processes}", "{loglevel}"]
[worker.profiles]
tuned = ["--fast"]
[worker.env]
FAKE_WORKERS = "{processes}"
"""

#: A ``[profiles]`` declaration: bare is the same configuration as shipped (appended to :data:`MINIMAL`).
SAME = """
[profiles.bare]
same_as = "shipped"
reason = "nothing to leave out"
"""


@pytest.mark.unit
def test_all_required_backends_are_described() -> None:
    backends = load_backends()
    assert set(backends) >= REQUIRED
    for name, backend in backends.items():
        assert backend.name == name
        assert backend.label
        assert backend.project_dir == (PROJECTS_DIR / name).resolve()
        assert backend.manage_py.is_file()
        assert backend.settings_module == f"{backend.django_package}.settings"


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(load_backends()))
def test_backend_is_installed_and_worker_argv_resolves(name: str) -> None:
    backend = get_backend(name)
    if backend.unmet_requirements():
        pytest.skip(f"{name}: not available on this interpreter: {backend.unmet_requirements()}")
    backend.check_installed()
    assert set(backend.versions()) == set(backend.distributions) | set(backend.required_distributions())
    for profile in PROFILES:
        argv = backend.worker_argv(3, profile)
        assert Path(argv[0]).is_absolute() and os.access(argv[0], os.X_OK)
        assert not any("{" in part for part in argv), argv
        reaches = any("3" in part for part in argv) or "3" in backend.worker_env(3).values()
        assert reaches, f"{name}: the process count reaches neither the worker argv nor its env: {argv}"


@pytest.mark.unit
def test_unknown_backend_is_a_usage_error_listing_valid_names() -> None:
    with pytest.raises(UsageError) as info:
        get_backends(["celery", "beanstalk"])
    message = str(info.value)
    assert "'beanstalk'" in message and "\n" not in message
    for name in load_backends():
        assert name in message


@pytest.mark.unit
def test_get_backends_keeps_order_and_defaults_to_all() -> None:
    assert [b.name for b in get_backends(["huey", "celery", "huey"])] == ["huey", "celery"]
    assert [b.name for b in get_backends(None)] == sorted(load_backends())


@pytest.mark.unit
def test_worker_argv_substitutes_and_appends_profile(tmp_path: Path) -> None:
    backend = load_backend(write_toml(tmp_path / "fake", MINIMAL))
    assert backend.worker_argv(4) == [sys.executable, "-c", "pass", "4", "WARNING"]
    assert backend.worker_argv(2, "tuned", "info") == [sys.executable, "-c", "pass", "2", "INFO", "--fast"]
    assert backend.worker_env(5) == {"FAKE_WORKERS": "5"}
    with pytest.raises(UsageError, match="valid profiles: bare, shipped, tuned, safe"):
        backend.worker_argv(1, "turbo")
    with pytest.raises(UsageError):
        backend.worker_argv(0)


@pytest.mark.unit
def test_same_profile_declaration(tmp_path: Path) -> None:
    backend = load_backend(write_toml(tmp_path / "fake", MINIMAL + SAME))
    same = backend.same_as("bare")
    assert same is not None and (same.profile, same.same_as, same.reason) == ("bare", "shipped", "nothing to leave out")
    assert backend.same_as("shipped") is None and backend.same_as("tuned") is None
    # Every real backend declares at most bare and io (a worker with no thread option), each with a reason, never
    # pointing at itself.
    for real in load_backends().values():
        assert set(real.same_profiles) <= {"bare", "io"}, real.name
        assert all(s.reason and s.same_as != s.profile for s in real.same_profiles.values())


@pytest.mark.unit
def test_backend_is_immutable(tmp_path: Path) -> None:
    backend = load_backend(write_toml(tmp_path / "fake", MINIMAL))
    with pytest.raises(AttributeError):
        backend.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        backend.worker_profiles["safe"] = ()  # type: ignore[index]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 'x'\n", "missing key"),
        (MINIMAL.replace("{loglevel}", "{greenlets}"), "bad placeholder"),
        (MINIMAL.replace("[worker.profiles]", "[worker.profiles]\nturbo = []"), "unknown profile"),
        ("name = ", "backend.toml"),
        (MINIMAL.replace('api = "native"', 'api = "celery"'), "api must be one of 'native', 'django.tasks'"),
        (MINIMAL.replace('broker = "redis"', 'broker = "kafka"'), "broker must be one of 'redis', 'database'"),
        (MINIMAL.replace("[worker]", 'requires = ["django>>6"]\n[worker]'), "requires"),
        (MINIMAL + SAME.replace('"shipped"', '"fast"'), r"same_as must be another profile"),
        (MINIMAL + SAME.replace('"shipped"', '"bare"'), r"same_as must be another profile"),
        (MINIMAL + SAME.replace("[profiles.bare]", "[profiles.turbo]"), r"\[profiles.turbo\]: unknown profile"),
        (MINIMAL + SAME.replace('reason = "nothing to leave out"', 'reason = " "'), "reason must say why"),
        (MINIMAL + SAME.replace('reason = "nothing to leave out"', ""), "needs exactly same_as and reason"),
        (MINIMAL + SAME.replace('"shipped"', '"tuned"'), "worker.profiles differ between bare and tuned"),
        (MINIMAL + SAME + '[profiles.shipped]\nsame_as = "safe"\nreason = "x"\n', "itself same_as another"),
    ],
)
def test_malformed_toml_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write_toml(tmp_path / "fake", text)
    with pytest.raises(BackendError, match=message) as info:
        load_backend(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.unit
def test_missing_library_and_worker_command_are_clear_errors(tmp_path: Path) -> None:
    lib = load_backend(write_toml(tmp_path / "a", MINIMAL.replace('["psutil"]', '["no-such-distribution-xyz"]')))
    with pytest.raises(BackendError, match="'no-such-distribution-xyz' is not installed"):
        lib.check_installed()
    cmd = load_backend(write_toml(tmp_path / "b", MINIMAL.replace('["python",', '["no-such-worker-xyz",')))
    with pytest.raises(BackendError, match="worker command 'no-such-worker-xyz' not found"):
        cmd.worker_argv(1)


@pytest.mark.unit
def test_api_and_broker_are_exposed() -> None:
    for backend in load_backends().values():
        assert backend.api in APIS and backend.broker in BROKERS, backend.name
    assert (get_backend("rq").api, get_backend("rq").broker) == ("native", "redis")


@pytest.mark.unit
def test_unmet_requirement_makes_a_backend_unavailable_in_one_line(tmp_path: Path) -> None:
    import django

    installed = django.get_version()
    met = load_backend(write_toml(tmp_path / "a", MINIMAL.replace("[worker]", 'requires = ["django>=4.2"]\n[worker]')))
    met.check_installed()
    unmet_text = MINIMAL.replace("[worker]", f'requires = ["django>{installed}", "psutil>=1"]\n[worker]')
    unmet = load_backend(write_toml(tmp_path / "b", unmet_text))
    assert unmet.unmet_requirements() == [f"django>{installed} (installed: {installed})"]
    with pytest.raises(BackendUnavailable) as info:
        unmet.check_installed()
    message = str(info.value)
    assert "not available on this interpreter" in message and "\n" not in message
    assert isinstance(info.value, BackendError)  # callers that only know BackendError still stop cleanly


@pytest.mark.unit
def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    write_toml(tmp_path / "a", MINIMAL)
    write_toml(tmp_path / "b", MINIMAL)
    with pytest.raises(BackendError, match="two backends are named 'fake'"):
        load_backends(tmp_path)


@pytest.mark.unit
def test_environment_is_complete_and_isolated_from_the_shell(tmp_path: Path) -> None:
    backend = get_backend("celery")
    base = {"PATH": "/usr/bin", "SHOP_DEBUG": "1", "SHOP_PROFILE": "tuned", "HOME": "/root", "PYTHONPATH": "/x"}
    env = backend.environment(
        redis_url="redis://127.0.0.1:1/0",
        var_dir=tmp_path / "var",
        smtp_port=2525,
        channel_dir=tmp_path / "ch",
        profile="safe",
        log_level="info",
        base=base,
        extra={"SHOP_DEBUG": "0"},
    )
    assert env["PYTHONPATH"].split(os.pathsep) == [
        str(backend.project_dir),
        str(PROJECTS_DIR),
        str(REPO_ROOT),
    ]
    assert env["DJANGO_SETTINGS_MODULE"] == "shop_celery.settings"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["SHOP_BACKEND"] == "celery"
    assert env["SHOP_REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert env["SHOP_VAR_DIR"] == str((tmp_path / "var").resolve())
    assert env["SHOP_CHANNEL_DIR"] == str((tmp_path / "ch").resolve())
    assert (env["SHOP_SMTP_PORT"], env["SHOP_PROFILE"], env["SHOP_LOG_LEVEL"]) == ("2525", "safe", "INFO")
    assert env["SHOP_DEBUG"] == "0"  # from extra, not from the shell
    assert env["HOME"] == "/root"
    assert "SHOP_DATABASE_URL" not in env and "SHOP_FAST_FAULTS" not in env


def _agent_inside(name: str, redis_url: str, tmp_path: Path) -> None:
    """One case of :func:`test_agent_runs_inside_each_backend` (its assertions)."""
    backend: Backend = get_backend(name)
    if backend.unmet_requirements():
        pytest.skip(f"{name}: not available on this interpreter: {backend.unmet_requirements()}")
    env = backend.environment(redis_url=redis_url, var_dir=tmp_path)
    answer = run_agent(backend, env, "ping")
    assert answer["settings_module"] == backend.settings_module
    assert answer["shop_queue"] == f"{backend.queue_module}.enqueue"
    settings = run_agent(backend, env, "bench_settings")
    assert isinstance(settings, list)
    assert all({"setting", "value", "default", "reason"} <= set(s) for s in settings)
    with pytest.raises(AgentError, match=r"unknown agent command .nope.; known: .*prepare"):
        run_agent(backend, env, "nope")


@pytest.fixture(scope="module")
def agent_cases(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SideBySide[None]]:
    """Every case of :func:`test_agent_runs_inside_each_backend`, side by side (tests/side_by_side.py): each is three
    Django start-ups in processes of their own, none of which writes to Redis."""
    with SideBySide(lambda name: _agent_inside(name, redis_server.url, tmp_path_factory.mktemp(name))) as cases:
        yield cases


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(load_backends()))
def test_agent_runs_inside_each_backend(
    name: str, agent_cases: SideBySide[None], request: pytest.FixtureRequest
) -> None:
    """The agent answers ``ping`` and ``bench_settings`` inside each backend's environment and refuses an unknown
    command (the assertions run in :func:`_agent_inside`, side by side with the other backends)."""
    agent_cases.outcome(request)


@pytest.mark.unit
def test_requires_unmet_is_a_one_line_unavailable_error(tmp_path: Path) -> None:
    needs = MINIMAL.replace("[worker]", 'requires = ["django>=99"]\n[worker]')
    backend = load_backend(write_toml(tmp_path / "a", needs))
    assert backend.unmet_requirements() and "django>=99" in backend.unmet_requirements()[0]
    with pytest.raises(BackendUnavailable) as info:
        backend.check_installed()
    message = str(info.value)
    assert "fake: not available on this interpreter" in message and "django>=99" in message and "\n" not in message
    # A requirement whose marker does not apply to this interpreter is met; one that applies is recorded.
    other = MINIMAL.replace("[worker]", 'requires = ["django>=99; python_version < \'3\'", "psutil>=1"]\n[worker]')
    ok = load_backend(write_toml(tmp_path / "b", other))
    ok.check_installed()
    assert set(ok.versions()) == {"psutil"}
    missing = MINIMAL.replace("[worker]", 'requires = ["no-such-distribution-xyz"]\n[worker]')
    with pytest.raises(BackendUnavailable, match=r"no-such-distribution-xyz.*not installed"):
        load_backend(write_toml(tmp_path / "c", missing)).check_installed()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('requires = ["django >>> 6"]', "not a PEP 508 requirement"),
        ('role = "judge"', "role must be one of"),
        ("floor = 3", "floor must be"),
    ],
)
def test_bad_kind_keys_name_the_file(tmp_path: Path, line: str, message: str) -> None:
    path = write_toml(tmp_path / "fake", MINIMAL.replace("[worker]", f"{line}\n[worker]"))
    with pytest.raises(BackendError, match=message):
        load_backend(path)


@pytest.mark.unit
def test_floors_are_loaded_and_every_named_floor_exists() -> None:
    floors = {b.name: b for b in get_backends(with_baseline=True) if b.role == "floor"}
    assert {"redis-baseline", "db-baseline"} <= set(floors)
    assert floors["db-baseline"].broker == "database" and floors["redis-baseline"].broker == "redis"
    for backend in load_backends().values():
        assert backend.role == "backend"
        if backend.floor is not None:
            assert backend.floor in floors and floors[backend.floor].broker == backend.broker, backend.name
    tasks_db = get_backend("tasks_db")
    assert (tasks_db.api, tasks_db.broker, tasks_db.floor) == ("django.tasks", "database", "db-baseline")
    assert get_backend("tasks_huey").worker_argv_template == get_backend("huey").worker_argv_template


@pytest.mark.unit
def test_command_line_skips_an_unavailable_backend_in_one_line(tmp_path: Path) -> None:
    from bench.__main__ import available_backends

    gone = load_backend(write_toml(tmp_path / "a", MINIMAL.replace("[worker]", 'requires = ["django>=99"]\n[worker]')))
    here = get_backend("huey")
    said: list[str] = []
    assert available_backends([gone, here], said.append) == [here]
    assert len(said) == 1 and said[0].startswith("skipped: fake: not available on this interpreter")
    with pytest.raises(UsageError, match="none of the chosen backends is available"):
        available_backends([gone], said.append)


@pytest.mark.unit
def test_a_declared_same_profile_is_measured_once_when_its_twin_is_in_the_run() -> None:
    from bench.__main__ import same_profile_skips

    backends = get_backends(["celery", "djangoq", "huey"])
    assert same_profile_skips(backends, ["bare", "shipped", "tuned"]) == {
        ("djangoq", "bare"): "tuned",
        ("huey", "bare"): "shipped",
    }
    # Without its twin in the run, the profile is measured under its own name.
    assert same_profile_skips(backends, ["bare"]) == {}
    assert same_profile_skips(backends, ["bare", "shipped"]) == {("huey", "bare"): "shipped"}
