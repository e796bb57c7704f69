"""Backends that are missing, hang, fail or print junk: reported, and discovery goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation.errors import NotFoundError
from constellation.gpu import Discovery, ParseError, UnknownGpu
from constellation.gpu._amd import parse_amd_smi, parse_rocm_smi
from constellation.gpu._intel import XpuSmiBackend, parse_xpu_dump
from constellation.gpu._nvidia_smi import NvidiaSmiBackend, parse_csv, parse_xml

from .conftest import ROCM, XML, XPU, Fakes, backends


def test_no_gpus_says_why_for_every_backend(fakes: Fakes, discovery: Discovery) -> None:
    assert discovery.discover() == []
    reports = {r.backend: r for r in discovery.reports}
    assert list(reports) == ["nvml", "nvidia-smi", "amd-smi", "rocm-smi", "xpu-smi"]
    assert reports["nvml"].status == "unavailable"
    assert "NVML Shared Library Not Found" in reports["nvml"].detail
    assert reports["rocm-smi"].status == "failed"
    assert "no devices were found" in reports["rocm-smi"].detail
    assert "nvidia-smi: failed" in discovery.why_none()


def test_missing_tools_are_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    d = Discovery(backends()[1:])
    assert d.discover() == []
    assert {r.status for r in d.reports} == {"unavailable"}
    assert "nvidia-smi not found on PATH" in d.why_none()


def test_a_hanging_tool_is_cut_off_and_the_others_still_answer(fakes: Fakes) -> None:
    fakes.mode("nvidia-smi", "hang")
    fakes.serve("xpu-smi", XPU)
    d = Discovery([NvidiaSmiBackend(timeout=0.5), XpuSmiBackend(timeout=10)])
    assert [g.id for g in d.discover()] == ["intel:0"]
    hung = d.reports[0]
    assert hung.status == "timeout"
    assert "did not answer within 0.5 s" in hung.detail


def test_garbage_output_is_a_parse_error_and_others_go_on(
    fakes: Fakes, discovery: Discovery
) -> None:
    fakes.mode("rocm-smi", "garbage")
    fakes.serve("nvidia-smi", XML / "tesla-t4.xml")
    assert [g.id for g in discovery.discover()] == ["nvidia:0"]
    report = next(r for r in discovery.reports if r.backend == "rocm-smi")
    assert report.status == "parse_error"
    assert "not JSON" in report.detail


def test_a_failing_tool_reports_its_message(fakes: Fakes, discovery: Discovery) -> None:
    fakes.mode("nvidia-smi", "fail")
    discovery.discover()
    report = next(r for r in discovery.reports if r.backend == "nvidia-smi")
    assert report.status == "failed"
    assert "exited with 9" in report.detail and "version mismatch" in report.detail


def test_truncated_xml_is_a_parse_error() -> None:
    text = (XML / "tesla-t4.xml").read_text()
    with pytest.raises(ParseError, match="not XML"):
        parse_xml(text[: len(text) // 2])
    with pytest.raises(ParseError, match="root <gpu>"):
        parse_xml("<gpu></gpu>")


def test_a_changed_number_format_is_not_silently_accepted() -> None:
    text = (
        (XML / "tesla-t4.xml")
        .read_text()
        .replace("<total>15360 MiB</total>", "<total>lots</total>")
    )
    with pytest.raises(ParseError, match="'lots' is not a number"):
        parse_xml(text)


def test_malformed_csv_json_and_dump() -> None:
    with pytest.raises(ParseError, match="row has 2 fields, header has 3"):
        parse_csv("index, name, memory.total [MiB]\n0, T4\n")
    with pytest.raises(ParseError, match=r"lacks memory\.total"):
        parse_csv("index, name\n0, T4\n")
    with pytest.raises(ParseError, match="expected a JSON object"):
        parse_rocm_smi("[1, 2]")
    with pytest.raises(ParseError, match="gpu_data"):
        parse_amd_smi('{"gpus": []}')
    with pytest.raises(ParseError, match="Timestamp"):
        parse_xpu_dump("DeviceId, GPU Power (W)\n0, 1\n")
    assert (
        parse_rocm_smi((ROCM / "mi100_rocm602.json").read_text().replace('"card', '"other')) == []
    )


def test_unknown_gpu_id(fakes: Fakes, discovery: Discovery) -> None:
    fakes.serve("nvidia-smi", XML / "tesla-t4.xml")
    with pytest.raises(UnknownGpu) as caught:
        discovery.get("nvidia:7")
    assert isinstance(caught.value, NotFoundError)
    assert str(caught.value) == "gpu 'nvidia:7' not found"


def test_output_of_an_unseen_shape_is_a_parse_error(
    fakes: Fakes, discovery: Discovery, tmp_path: Path
) -> None:
    folder = tmp_path / "amd"
    folder.mkdir()
    (folder / "metric.json").write_text('{"gpu_data": [{"gpu": 0}]}')
    (folder / "process.json").write_text(
        '[{"gpu": 0, "process_list": [{"process_info": {"name": "x"}}]}]'
    )
    fakes.serve("amd-smi", folder)  # a process without its pid
    fakes.serve("xpu-smi", XPU)
    assert [g.id for g in discovery.discover()] == ["intel:0"]
    report = next(r for r in discovery.reports if r.backend == "amd-smi")
    assert report.status == "parse_error"
    assert report.detail == "unexpected output: KeyError: 'pid'"
