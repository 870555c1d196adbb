"""handouts.pdf, read back as a person's tools would: its text, and its QR codes decoded from
rendered pages (pypdfium2 renders, zxing-cpp decodes: no system packages needed)."""

from __future__ import annotations

import stat

import pypdfium2 as pdfium
import pytest
import zxingcpp

from keyprov.errors import ConfigurationError
from keyprov.handouts import quickstart_lines
from keyprov.handouts.pdf import SLIPS_PER_PAGE, render_handouts_pdf, wrap_code, write_handouts_pdf
from tests.handouts.test_handouts import NAMES, make_handout

POINTS_PER_MM = 72 / 25.4


def page_texts(path) -> list[str]:
    document = pdfium.PdfDocument(path)
    try:
        return [document[index].get_textpage().get_text_range() for index in range(len(document))]
    finally:
        document.close()


def decoded_qr_codes(path, *, scale: float = 2.0) -> list[list[str]]:
    """Per page, the QR codes' contents from top to bottom."""
    document = pdfium.PdfDocument(path)
    try:
        pages = []
        for index in range(len(document)):
            image = document[index].render(scale=scale, grayscale=True).to_pil()
            codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
            codes = sorted(codes, key=lambda code: code.position.top_left.y)
            pages.append([code.text for code in codes])
        return pages
    finally:
        document.close()


@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_each_slip_shows_its_own_key_once_and_its_qr_code_holds_it(tmp_path, paper):
    handouts = [make_handout(i) for i in range(len(NAMES) + 2)]
    path = tmp_path / "handouts.pdf"
    write_handouts_pdf(path, handouts, paper=paper, title="BSSDH 2026")

    texts = page_texts(path)
    assert len(texts) == -(-len(handouts) // SLIPS_PER_PAGE)
    whole = "".join(texts)
    for handout in handouts:
        assert whole.count(handout.secret) == 1, handout.name
    pages = [handouts[i : i + SLIPS_PER_PAGE] for i in range(0, len(handouts), SLIPS_PER_PAGE)]
    assert decoded_qr_codes(path) == [[h.secret for h in page] for page in pages]
    for text, page in zip(texts, pages, strict=True):
        assert text.count("sk-or-v1-") == len(page), "a key on the wrong page"


def test_the_paper_sizes_are_a4_and_letter(tmp_path):
    sizes = {}
    for paper in ("a4", "letter"):
        path = tmp_path / f"{paper}.pdf"
        write_handouts_pdf(path, [make_handout(0)], paper=paper)
        document = pdfium.PdfDocument(path)
        sizes[paper] = tuple(round(side / POINTS_PER_MM) for side in document[0].get_size())
        document.close()
    assert sizes == {"a4": (210, 297), "letter": (216, 279)}


def test_an_unknown_paper_size_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match=r"'a5'.*a4, letter"):
        write_handouts_pdf(tmp_path / "h.pdf", [make_handout(0)], paper="a5")
    assert list(tmp_path.iterdir()) == []


def test_the_pdf_is_private_and_written_whole(tmp_path):
    path = tmp_path / "handouts.pdf"
    write_handouts_pdf(path, [make_handout(0)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["handouts.pdf"]


def test_a_slip_says_what_the_key_allows_and_how_to_use_it(tmp_path):
    handout = make_handout(
        0,
        name="Ada Lovelace",
        limit=5,
        limit_reset="weekly",
        models=("anthropic/claude-haiku-4.5",),
        replaces="sk-or-v1-abc...123",
    )
    path = tmp_path / "handouts.pdf"
    write_handouts_pdf(path, [handout])
    (text,) = page_texts(path)
    flat = " ".join(text.split())
    for expected in (
        "Ada Lovelace",
        "$5.00 per week, renewed every Monday at 00:00 UTC",
        "until Saturday 5 December 2026, 23:59 UTC",
        "anthropic/claude-haiku-4.5",
        "https://openrouter.ai/api/v1",
        "export OPENROUTER_API_KEY=",
        "This key replaces your previous key sk-or-v1-abc...123, which no longer works.",
        'curl https://openrouter.ai/api/v1/key -H "Authorization: Bearer $OPENROUTER_API_KEY"',
    ):
        assert expected in flat, expected


def test_names_in_every_script_are_in_the_pdf(tmp_path):
    handouts = [make_handout(i) for i in range(len(NAMES))]
    path = tmp_path / "handouts.pdf"
    write_handouts_pdf(path, handouts)
    whole = "".join(page_texts(path))
    for name in NAMES:
        if name[0] in "مד":  # right to left: extractors give the words in visual order
            assert " ".join(reversed(name.split())) in whole, name
        else:
            assert name in whole, name


def test_the_cjk_font_is_embedded_only_when_a_name_or_the_title_needs_it(tmp_path):
    latin = render_handouts_pdf([make_handout(0, name="Zoë Ångström-Çelik")], title="BSSDH")
    assert b"DroidSansFallback" not in latin
    for name, title in (("山田太郎", "BSSDH"), ("Ada Lovelace", "数据科学 2026")):
        path = tmp_path / "handouts.pdf"
        write_handouts_pdf(path, [make_handout(0, name=name)], title=title)
        assert b"DroidSansFallback" in path.read_bytes()
        whole = "".join(page_texts(path))
        assert name in whole and title in whole


def test_right_to_left_names_are_drawn_right_to_left(tmp_path):
    path = tmp_path / "handouts.pdf"
    write_handouts_pdf(path, [make_handout(0, name="דוד כהן")])
    document = pdfium.PdfDocument(path)
    textpage = document[0].get_textpage()
    text = textpage.get_text_range()

    def left_edge(character: str) -> float:
        return textpage.get_charbox(text.index(character))[0]

    dalet, kaf, final_nun = "\u05d3", "\u05db", "\u05df"
    # The first word (dalet-vav-dalet) stands right of the second (kaf-he-final nun), and in
    # that word kaf, the first letter, right of final nun, the last.
    assert left_edge(dalet) > left_edge(kaf) > left_edge(final_nun)
    document.close()


def test_a_larger_workshop_fits_in_one_pdf_with_every_key_once(tmp_path):
    # 60 participants go through the real command in tests/test_handouts_cli.py.
    handouts = [make_handout(i) for i in range(30)]
    path = tmp_path / "handouts.pdf"
    write_handouts_pdf(path, handouts, paper="letter")
    texts = page_texts(path)
    assert len(texts) == 10
    whole = "".join(texts)
    assert all(whole.count(handout.secret) == 1 for handout in handouts)
    assert whole.count("sk-or-v1-") == 30


def test_an_empty_list_is_refused():
    with pytest.raises(ValueError, match="no handouts"):
        write_handouts_pdf(None, [])  # type: ignore[arg-type]


@pytest.mark.parametrize("line", quickstart_lines())
def test_a_wrapped_command_still_types_as_the_same_command(line):
    for columns in (40, 60, 90):
        parts = wrap_code(line, columns)
        rejoined = " ".join(part.removesuffix(" \\").strip() for part in parts)
        assert rejoined == line
        if line.startswith("curl"):
            assert all(part.endswith(" \\") for part in parts[:-1])
        # The JSON body is never split: a line break inside quotes would change it.
        assert any(part.strip().startswith("-d '{") for part in parts) or not line.startswith(
            "curl"
        )
