"""Licence: LICENSE and NOTICE, NOTICE complete for what the wheel ships, the dependency-licence check."""
from __future__ import annotations

import configparser
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _licences() -> ModuleType:
    spec = importlib.util.spec_from_file_location("licences", ROOT / "scripts" / "licences.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["licences"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel `pip wheel` builds from the package sources (copied, so the work tree gets no build/)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy(ROOT / name, src / name)
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    for top in {p.split(".")[0] for p in cfg["options.packages.find"]["include"].split()}:
        shutil.copytree(ROOT / top, src / top, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "out"), str(src)], check=True, capture_output=True, timeout=600)
    return zipfile.ZipFile(next((tmp / "out").glob("yuqing-*.whl")))


def _notice_paths() -> list[str]:
    """The files NOTICE lists: lines that are a relative path and nothing else."""
    return re.findall(r"^([\w.-]+(?:/[\w.-]+)+)$", (ROOT / "NOTICE").read_text(encoding="utf-8"), flags=re.M)


def test_license_is_the_apache_2_text_setup_cfg_declares() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["license"] == "Apache-2.0"


def test_every_data_file_in_the_wheel_is_listed_in_notice(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    data = sorted(n for n in names if not n.endswith(".py") and ".dist-info/" not in n)
    # The analyser cannot run without its models: a wheel that lacked them would pass for complete.
    assert {"nlp/models/document.bin", "nlp/models/target.bin", "nlp/models/idf.txt"} <= set(data)
    listed = _notice_paths()
    missing = [n for n in data if n not in listed]
    assert not missing, f"NOTICE does not list {missing}: say where each comes from and under which terms"
    stale = [p for p in listed if p not in data]
    assert not stale, f"NOTICE lists {stale}, which the wheel does not ship"
    dist_info = {n.rsplit("/", 1)[-1] for n in names if ".dist-info/" in n}
    assert {"LICENSE", "NOTICE"} <= dist_info


def test_notice_states_the_models_data_terms() -> None:
    text = (ROOT / "NOTICE").read_text(encoding="utf-8")
    for needed in ("FinNSP", "FinFE", "BBT-FinCUGE", "CCF BDCI 2019", "research use"):
        assert needed in text


def test_the_licence_check_passes_and_lists_every_declared_dependency() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "licences.py")], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    declared = [re.split(r"[<>=!~ \[]", line.strip())[0] for line in cfg["options"]["install_requires"].split("\n")
                if line.strip()]
    listed = {line.split()[0].lower() for line in run.stdout.splitlines()[:-1]}
    assert declared and all(name.lower() in listed for name in declared), (declared, listed)


def _dist(site: Path, name: str, *lines: str) -> None:
    """A real installed-distribution record (`*.dist-info/METADATA`) for importlib.metadata to find."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("\n".join(["Metadata-Version: 2.4", f"Name: {name}", "Version: 1.0", *lines]) + "\n",
                                   encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    _dist(site, "app", "Requires-Dist: shared-lib", "Requires-Dist: gpl-lib; extra == 'dev'",
          "Requires-Dist: copyleft-lib[fast]")
    _dist(site, "shared-lib", "License-Expression: MIT OR GPL-3.0-only")
    _dist(site, "copyleft-lib", "Classifier: License :: OSI Approved :: GNU General Public License v3 (GPLv3)",
          "Requires-Dist: speedups; extra == 'fast'")
    _dist(site, "speedups", "License: Copyright (c) 2020 A. Author.  Permission is hereby granted, free of charge")
    _dist(site, "gpl-lib", "License-Expression: GPL-3.0-only")
    return site


def test_runtime_dependencies_follow_requirements_and_extras_not_dev_extras(site: Path) -> None:
    deps = {d.name: d for d in _licences().runtime_dependencies("app", [str(site)])}
    assert sorted(deps) == ["copyleft-lib", "shared-lib", "speedups"]  # gpl-lib is only a dev extra
    assert deps["shared-lib"].permissive  # one permissive alternative is enough
    assert not deps["copyleft-lib"].permissive and deps["copyleft-lib"].licence == "GPL-3.0"
    assert deps["speedups"].licence == "MIT" and deps["speedups"].permissive


def test_a_copyleft_dependency_fails_the_check_until_the_readme_names_it(
        site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    licences = _licences()
    readme = tmp_path / "README.md"
    readme.write_text("# app\n\n## Licence\n\nNothing to declare.\n\n## Other\n\n`copyleft-lib`\n", encoding="utf-8")
    args = ["--dist", "app", "--path", str(site), "--readme", str(readme)]
    assert licences.main(args) == 1
    err = capsys.readouterr().err
    assert "copyleft-lib 1.0 is GPL-3.0" in err and "shared-lib" not in err
    readme.write_text("# app\n\n## Licence\n\n`copyleft-lib` (GPL-3.0): reviewed, used unmodified.\n", encoding="utf-8")
    assert licences.main(args) == 0
    assert "NOT PERMISSIVE (named in the README)" in capsys.readouterr().out


# --- which model, trained on which data ---------------------------------------------------------------


def _own_data(folder: Path, bad_news_line: str | None = None) -> Path:
    """A small labelled set of an institution's own, in the two files `yuqing train sentiment` reads."""
    folder.mkdir()
    # Distinct texts, as an institution's own labels are: training groups near-duplicates into one
    # fold, so a set made from one template would leave a fold with a single label.
    places = ["滨江", "城东", "开发区", "高新区", "江北", "老城", "南湖", "西溪", "北站", "临港", "东港", "湾区",
              "新城", "古镇", "港口"]
    bad = ["违规放贷被罚款", "员工挪用客户资金", "暴力催收遭投诉", "泄露客户信息", "误导老人买理财",
           "乱收账户管理费", "信用卡被盗刷不赔", "理财产品逾期兑付", "拒绝受理投诉", "强制搭售保险",
           "被监管责令整改", "柜员态度恶劣", "贷款合同藏霸王条款", "存款莫名被冻结", "被曝虚假宣传"]
    good = ["举办公益讲座", "开展反诈宣传", "新增智能柜台", "延长营业时间", "资助贫困学生", "推出养老专区",
            "获评优秀网点", "开通无障碍通道", "组织义务献血", "上线适老化服务", "帮助小微企业", "举办理财沙龙",
            "植树绿化活动", "走进社区服务", "表彰优秀员工"]
    news = [row for i, place in enumerate(places) for row in (
        {"text": f"某银行{place}网点{bad[i]}，某支付公司配合调查", "entities": ["某银行", "某支付公司"],
         "negative": True, "negative_entities": ["某银行"]},
        {"text": f"某银行{place}支行{good[i]}", "entities": ["某银行"], "negative": False, "negative_entities": []})]
    moods = {"negative": ["亏惨了割肉离场", "又套牢了心累", "跌停了血亏", "主力出货快跑", "利空砸盘太狠",
                          "补仓补到没钱", "这票坑死人了", "连续阴跌没救了", "追高被埋", "业绩暴雷完了",
                          "天天跌睡不着", "止损出局认栽"],
             "neutral": ["今天横盘不动", "明天开盘再看", "成交量一般", "等财报出来", "观望为主吧", "均线附近震荡",
                         "下午再说", "看看大盘走势", "换手率正常", "还在整理区间", "没什么消息", "量能持平"],
             "positive": ["涨停了太开心", "终于解套了", "主力进场了", "业绩超预期大涨", "突破新高了", "加仓赚到了",
                          "利好来了冲", "今天收益不错", "红盘收官真爽", "翻倍了感谢", "底部放量启动", "稳稳上涨"]}
    forum = [{"text": text, "label": label} for label, texts in moods.items() for text in texts]
    lines = [json.dumps(r, ensure_ascii=False) for r in news]
    if bad_news_line is not None:
        lines.insert(1, bad_news_line)
    (folder / "finnsp_train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "finfe_train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in forum),
                                             encoding="utf-8")
    return folder


def _yuqing(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("YUQING_CONFIG", "YUQING_DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_status_says_the_shipped_model_was_trained_on_research_use_data(tmp_path: Path) -> None:
    run = _yuqing("--data-dir", str(tmp_path), "status", "--json")
    assert run.returncode == 0, run.stderr
    model = json.loads(run.stdout)["model"]
    assert model["shipped"] is True
    assert {d["file"]: d["rows"] for d in model["data"]} == {"finnsp_train.jsonl": 3999, "finfe_train.jsonl": 16157}
    assert all("research use" in d["terms"] for d in model["data"])
    text = _yuqing("--data-dir", str(tmp_path), "status").stdout
    assert "(shipped)" in text and "FinNSP of the BBT-FinCUGE benchmark" in text


def test_status_names_the_probe_files_the_category_fallback_was_trained_on(tmp_path: Path) -> None:
    run = _yuqing("--data-dir", str(tmp_path), "status", "--json")
    assert run.returncode == 0, run.stderr
    learnt = json.loads(run.stdout)["model"]["categories"]
    fixtures = Path(__file__).parent / "fixtures"
    assert learnt["data"], learnt
    # every file it names is one of the repository's probe sets as it is now: the shipped fallback
    # was trained on these very texts, not on an older or a foreign copy
    for record in learnt["data"]:
        path = fixtures / record["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"], record["file"]
        assert record["rows"] == sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    text = _yuqing("--data-dir", str(tmp_path), "status").stdout
    assert "category fallback:" in text and learnt["data"][0]["file"] in text


def test_a_model_trained_on_own_data_is_what_status_shows(tmp_path: Path) -> None:
    data, out = _own_data(tmp_path / "labelled"), tmp_path / "model"
    train = _yuqing("train", "sentiment", "--data", str(data), "--out", str(out), "--folds", "2")
    assert train.returncode == 0, train.stderr
    config = tmp_path / "yuqing.yaml"
    config.write_text(f"nlp:\n  model: {out}\n", encoding="utf-8")
    run = _yuqing("--config", str(config), "--data-dir", str(tmp_path), "status", "--json")
    assert run.returncode == 0, run.stderr
    model = json.loads(run.stdout)["model"]
    assert model["shipped"] is False and model["path"] == str(out)
    assert {d["file"]: d["rows"] for d in model["data"]} == {"finnsp_train.jsonl": 30, "finfe_train.jsonl": 36}
    assert all(d["terms"].startswith("not a known public set") for d in model["data"])
    assert model["data"][0]["sha256"] == hashlib.sha256((data / "finnsp_train.jsonl").read_bytes()).hexdigest()


@pytest.mark.parametrize("line, problem", [
    ('{"text": "某银行被罚", "negative": true, "negative_entities": []}', "missing 'entities'"),
    ('{"text": "某银行被罚", "entities": "某银行", "negative": true, "negative_entities": []}',
     "'entities' must be a JSON array"),
    ('["某银行被罚"]', "expected a JSON object, got list"),
    ('{"text": "某银行被罚", "entities": [], "negative": "yes", "negative_entities": []}',
     "'negative' must be a JSON bool"),
])
def test_a_bad_training_row_is_named_by_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    data = _own_data(tmp_path / "labelled", bad_news_line=line)
    run = _yuqing("train", "sentiment", "--data", str(data), "--out", str(tmp_path / "model"), "--folds", "2")
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1].startswith(f"{data / 'finnsp_train.jsonl'}:2: {problem}")
    assert not (tmp_path / "model").exists()


def test_own_data_without_every_label_is_refused_before_training(tmp_path: Path) -> None:
    data = _own_data(tmp_path / "labelled")
    forum = data / "finfe_train.jsonl"
    forum.write_text("".join(line + "\n" for line in forum.read_text(encoding="utf-8").splitlines()
                             if '"positive"' not in line), encoding="utf-8")
    run = _yuqing("train", "sentiment", "--data", str(data), "--out", str(tmp_path / "model"), "--folds", "2")
    assert run.returncode != 0
    assert run.stderr.strip() == (f"{forum}: needs rows of every label (negative, neutral, positive); "
                                  "found only negative, neutral")
