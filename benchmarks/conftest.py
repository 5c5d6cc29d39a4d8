"""Fixtures shared by the benchmark modules."""
import pytest


@pytest.fixture(scope="module")
def report_lines(request):
    """A list of lines that is printed after the module's benchmarks, below pytest-benchmark's
    tables (output written during a fixture's teardown is captured unless capture is lifted)."""
    lines: list[str] = []
    yield lines
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if not lines or reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        for line in ["", *lines]:
            reporter.write_line(line)
