"""Reading and writing spreadsheet files: encodings, delimiters, XLSX cells, headers."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from riskprompt.models.importing import CATALOG_LAYOUT, PEOPLE_LAYOUT
from riskprompt.models.tabular import (
    Problem,
    TableError,
    clean_cell,
    detect_encoding,
    normalise_header,
    open_table,
    sniff_delimiter,
    write_table,
)
from tests.fixtures.files import CATALOG_HEADER, CATALOG_ROWS, write_csv, write_xlsx


def read_all(path, **kwargs):
    with open_table(path, **kwargs) as table:
        rows = list(table.rows())
        return table.headers, rows, table.problems


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_every_encoding_reads_the_same_rows(tmp_path, encoding) -> None:
    path = write_csv(tmp_path / "c.csv", CATALOG_HEADER, CATALOG_ROWS, encoding=encoding)
    headers, rows, problems = read_all(path)
    assert headers == CATALOG_HEADER  # no BOM left on the first header
    assert [cells for _, cells in rows] == CATALOG_ROWS
    assert problems == []


def test_encoding_is_detected_over_the_whole_file(tmp_path) -> None:
    # Pure ASCII first lines decode as UTF-8; the GB18030 bytes come later.
    rows = [["a", "b"]] * 2000 + [["财务科", "会计岗"]]
    path = write_csv(tmp_path / "late.csv", ["unit", "post"], rows, encoding="gb18030")
    codec, lines = detect_encoding(path, source="late.csv")
    assert codec == "gb18030"
    assert lines == 2002


def test_bytes_in_no_known_encoding_are_one_clear_error(tmp_path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"unit,post\n\xff\xfe\xfa\x80\x81,\xff\n")
    with pytest.raises(TableError) as caught:
        read_all(path)
    assert str(caught.value.problem) == (
        f"{path}: cannot read the file: its text is neither UTF-8 nor GB18030 (GBK)"
    )


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_delimiter_is_sniffed_from_the_header(tmp_path, delimiter) -> None:
    path = write_csv(tmp_path / "c.csv", CATALOG_HEADER, CATALOG_ROWS[1:2], delimiter=delimiter)
    headers, rows, _ = read_all(path, recognises=CATALOG_LAYOUT.recognises)
    assert headers == CATALOG_HEADER
    assert rows[0][1][-1] == "双人审核；集体研究决定"


def test_sniffing_prefers_recognised_columns_then_the_comma() -> None:
    assert sniff_delimiter("单位;岗位;备注,其他", CATALOG_LAYOUT.recognises) == ";"
    assert sniff_delimiter("单位;岗位,风险点", CATALOG_LAYOUT.recognises) == ","
    assert sniff_delimiter("姓名") == ","


def test_rows_are_numbered_like_the_spreadsheet(tmp_path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('unit,post\n a , b \n\n"multi\nline",x\n,\nlast,y,extra\n', encoding="utf-8")
    headers, rows, problems = read_all(path)
    assert headers == ["unit", "post"]
    # Blank rows are skipped but still counted; cells are stripped; a quoted
    # newline stays inside its cell.
    assert rows == [(2, ["a", "b"]), (4, ["multi\nline", "x"]), (6, ["last", "y"])]
    assert [str(p) for p in problems] == [f"{path}:6:C: a value in a column without a header"]


def test_short_rows_are_padded(tmp_path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("unit,post,level\nonly\n", encoding="utf-8")
    assert read_all(path)[1] == [(2, ["only", "", ""])]


def test_xlsx_cells_become_clean_text(tmp_path) -> None:
    path = write_xlsx(
        tmp_path / "p.xlsx",
        ["工号", "手机", "比例", "日期"],
        [[1001, 13800138000, 0.5, dt.date(2026, 12, 1)], [None, 13800138001.0, True, None]],
    )
    headers, rows, _ = read_all(path)
    assert headers == ["工号", "手机", "比例", "日期"]
    assert rows[0] == (2, ["1001", "13800138000", "0.5", "2026-12-01 00:00:00"])
    assert rows[1] == (3, ["", "13800138001", "TRUE", ""])


def test_clean_cell() -> None:
    assert clean_cell(None) == ""
    assert clean_cell("  x ") == "x"
    assert clean_cell(42) == "42"
    assert clean_cell(13800138000.0) == "13800138000"
    assert clean_cell(1.25) == "1.25"
    assert clean_cell(dt.time(9, 30)) == "09:30:00"


def test_xlsx_sheet_is_chosen_by_name(tmp_path) -> None:
    path = write_xlsx(
        tmp_path / "c.xlsx", CATALOG_HEADER, CATALOG_ROWS, sheet="目录", before=["说明"]
    )
    headers, rows, _ = read_all(path, sheet="目录")
    assert headers == CATALOG_HEADER
    assert len(rows) == len(CATALOG_ROWS)
    assert read_all(path)[0] == ["说明：本表为填报说明"]  # the first sheet by default
    with pytest.raises(TableError) as caught:
        read_all(path, sheet="目录2")
    assert str(caught.value.problem) == f"{path}: no sheet '目录2'; the sheets are: 说明, 目录"


def test_xlsx_with_wrong_stored_dimensions_is_read_whole(tmp_path) -> None:
    path = write_xlsx(tmp_path / "dims.xlsx", ["unit", "post"], [["a", "b"], ["c", "d"]])
    workbook = openpyxl.load_workbook(path)
    # Some writers store A1:A1 whatever the data; read-only mode would trust it.
    workbook.active.calculate_dimension = lambda: "A1:A1"  # type: ignore[union-attr]
    workbook.save(path)
    assert [cells for _, cells in read_all(path)[1]] == [["a", "b"], ["c", "d"]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("old.xls", b"", "old Excel files (.xls) cannot be read: save the sheet as .xlsx or .csv"),
        ("notes.docx", b"", "unsupported file type '.docx': use .csv or .xlsx"),
        ("empty.csv", b"", "the file is empty: the first row must be the header"),
        ("broken.xlsx", b"not a zip", "not an Excel workbook (.xlsx): File is not a zip file"),
        ("data.csv", "dir", "not a file"),
    ],
)
def test_unreadable_files_are_one_clear_error(tmp_path, name, content, message) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(TableError) as caught:
        read_all(path, source=name)
    assert str(caught.value.problem) == f"{name}: {message}"
    assert caught.value.translate(lambda s: s) == f"{name}: {message}"


def test_a_row_the_csv_reader_refuses_is_located(tmp_path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("unit,post\na,b\n" + "x" * 200_000 + ",d\n", encoding="utf-8")
    with pytest.raises(TableError) as caught:
        read_all(path, source="huge.csv")
    assert str(caught.value.problem) == (
        "huge.csv: row 3 cannot be read: field larger than field limit (131072)"
    )


def test_sheet_option_on_a_csv_is_refused(tmp_path) -> None:
    path = write_csv(tmp_path / "c.csv", CATALOG_HEADER, [])
    with pytest.raises(TableError, match="xlsx files only"):
        read_all(path, sheet="x")


def test_headers_match_in_any_language_case_spacing_and_order() -> None:
    header = CATALOG_LAYOUT.match(
        [" Measures ", "风险等级", "RISK POINT", "岗位", "unit", "Power-Content"], source="f"
    )
    assert header.problems == []
    assert header.index == {
        "measures": 0,
        "level": 1,
        "risk_point": 2,
        "post": 3,
        "unit": 4,
        "power_content": 5,
    }
    assert header.names["risk_point"] == "RISK POINT"
    assert normalise_header("\ufeff Staff  ID ") == "staff_id"


def test_header_problems_name_the_column() -> None:
    header = CATALOG_LAYOUT.match(
        ["单位", "岗位", "风险点", "风险等极", "unit", "备注"], source="f"
    )
    assert [str(p) for p in header.problems] == [
        "f:1:风险等极: unknown column '风险等极' (did you mean '风险等级'?)",
        "f:1:unit: column 'unit' is given twice (also as '单位')",
        "f:1:备注: unknown column '备注'; the columns are: "
        + ", ".join(f"{c.zh}/{c.en}" for c in CATALOG_LAYOUT.columns),
        "f:1:风险等级: missing column 风险等级 (level)",
        "f:1:防控措施: missing column 防控措施 (measures)",
    ]
    assert header.missing == ["level", "measures"]


def test_a_missing_column_is_named_in_the_files_language() -> None:
    header = PEOPLE_LAYOUT.match(["name", "unit"], source="f")
    assert [str(p) for p in header.problems] == ["f:1:staff_id: missing column 工号 (staff_id)"]


def test_problem_location_and_translation() -> None:
    problem = Problem("f.csv", "unknown unit %(unit)r", {"unit": "x"}, 3, "单位")
    assert str(problem) == "f.csv:3:单位: unknown unit 'x'"
    assert problem.translate(lambda s: "未知单位 %(unit)r") == "f.csv:3:单位: 未知单位 'x'"
    assert str(Problem("f.csv", "no such file")) == "f.csv: no such file"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_written_tables_read_back_identically(tmp_path, suffix) -> None:
    rows = [["=SUM(A1)", "+8613800138000", "多行\n文本"], ["", "00123", "x"]]
    path = tmp_path / f"out{suffix}"
    assert write_table(path, headers=["a", "b", "c"], rows=rows) == 2
    if suffix == ".csv":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel needs the BOM
    headers, read, _ = read_all(path)
    assert headers == ["a", "b", "c"]
    assert [cells for _, cells in read] == rows
    assert not list(tmp_path.glob(".*part"))


def test_writing_to_a_missing_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(TableError) as caught:
        write_table(tmp_path / "no" / "out.csv", headers=["a"], rows=[], source="no/out.csv")
    assert str(caught.value.problem).startswith("no/out.csv: cannot write the file: ")


def test_row_count_for_progress_without_a_stored_dimension(tmp_path) -> None:
    # openpyxl's write-only mode (our export) stores no <dimension>.
    path = tmp_path / "no-dims.xlsx"
    write_table(path, headers=["a"], rows=[[str(i)] for i in range(1234)])
    with open_table(path) as table:
        assert table.size_hint == 1234
    dims = write_xlsx(tmp_path / "dims.xlsx", ["a"], [["1"], ["2"]])
    with open_table(dims) as table:
        assert table.size_hint == 2
