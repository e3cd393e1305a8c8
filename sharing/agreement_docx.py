"""The draft agreement as a Word document (python-docx).

Real Word structure, so that a legal office can edit it as its own: the title and section
headings use the built-in ``Title`` and ``Heading 1`` styles; sections and clauses are Word
numbered lists (一、 / 第一条 / （一） in Chinese, 1. / Article 1. / (a) in English), so that
inserting a clause renumbers the rest; each clause's reference is a real footnote; the draft
notice is bold; placeholders the parties must fill in are bold and highlighted. python-docx has
no footnote API, so the footnotes part is written here from the WordprocessingML schema
(ECMA-376 Part 1, §17.11).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX
from docx.opc.constants import CONTENT_TYPE as CT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import XmlPart
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Pt, RGBColor

from sharing.agreement_text import AgreementText, Clause, _illustrative, repeat_note
from sharing.i18n import message

FONTS = {"body": ("Times New Roman", "SimSun"), "heading": ("Arial", "SimHei")}
MARKER_COLOUR = RGBColor(0xB4, 0x5F, 0x06)
SECTION_NUM, CLAUSE_NUM = 91, 92  # our own numbering definitions (ids unused by the template)


def write_docx(text: AgreementText, target: Path | BinaryIO) -> None:
    """Write ``text`` as a .docx file (a path or a binary stream)."""
    text = _xml_safe(text)
    doc = Document()
    _page(doc)
    _styles(doc)
    _numbering(doc, text.lang)
    notes = _Footnotes(doc, text.lang)

    title = doc.add_paragraph(style="Title")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for k, line in enumerate(text.title.split("\n")):  # the title's own line break
        if k:
            title.add_run().add_break()
        title.add_run(line)
    notice = doc.add_paragraph()
    run = notice.add_run(text.notice)
    run.bold = True
    _border(notice)
    sep = "；" if text.lang == "zh" else "; "
    for section in text.sections:
        heading = doc.add_paragraph(section.title, style="Heading 1")
        _number(heading, SECTION_NUM, 0)
        for clause in section.clauses:
            _clause(doc, clause, text, notes, sep)
    _page_numbers(doc)
    doc.core_properties.title = text.title.replace("\n", " ")
    doc.save(target if not isinstance(target, Path) else str(target))


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(text: AgreementText) -> AgreementText:
    """The same draft without characters XML cannot hold (scenario text may carry them)."""

    def clean(value: str) -> str:
        return _NOT_XML.sub("", value)

    sections = tuple(replace(s, title=clean(s.title), clauses=tuple(
        replace(c, text=clean(c.text), items=tuple(map(clean, c.items)),
                references=tuple(map(clean, c.references)),
                illustrative=tuple(map(clean, c.illustrative))) for c in s.clauses))
        for s in text.sections)
    return replace(text, title=clean(text.title), notice=clean(text.notice), sections=sections)


def _clause(doc, clause: Clause, text: AgreementText, notes: _Footnotes, sep: str) -> None:
    p = doc.add_paragraph(style="Body Text")
    _number(p, CLAUSE_NUM, 0)
    body = clause.text
    if clause.placeholder:
        mark = message("agreement.to_be_agreed", text.lang)
        head, _, body = body.partition(mark)
        if head:
            p.add_run(head)
        run = p.add_run(mark)
        run.bold = True
        run.font.highlight_color = WD_COLOR_INDEX.YELLOW
    p.add_run(body)
    if clause.references:
        notes.add(p, sep.join(clause.references))
    if clause.illustrative:
        run = p.add_run(" " + message("agreement.marker", text.lang))
        run.bold = True
        run.font.color.rgb = MARKER_COLOUR
        notes.add(p, _illustrative(clause, text.lang))
    for item in clause.items:
        q = doc.add_paragraph(item, style="Body Text")
        _number(q, CLAUSE_NUM, 1)


# ---------------------------------------------------------------------------------------------
# Page, styles and numbering


def _page(doc) -> None:
    section = doc.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21.0)  # A4
    section.top_margin = section.bottom_margin = Cm(2.54)
    section.left_margin = section.right_margin = Cm(3.17)


def _fonts(style, latin: str, east_asian: str) -> None:
    style.font.name = latin
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), east_asian)


def _styles(doc) -> None:
    styles = doc.styles
    normal = styles["Normal"]
    _fonts(normal, *FONTS["body"])
    normal.font.size = Pt(12)
    body = styles["Body Text"]
    body.paragraph_format.space_after = Pt(6)
    body.paragraph_format.line_spacing = 1.3
    body.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    for name, size in (("Title", 18), ("Heading 1", 14)):
        style = styles[name]
        _fonts(style, *FONTS["heading"])
        style.font.size = Pt(size)
        style.font.bold = True
        style.font.italic = False
        style.font.color.rgb = RGBColor(0, 0, 0)
        style.paragraph_format.space_before = Pt(12)
        style.paragraph_format.space_after = Pt(6)
    # The template's Title has a bottom border; an agreement's title does not.
    ppr = styles["Title"].element.get_or_add_pPr()
    for border in ppr.findall(qn("w:pBdr")):
        ppr.remove(border)


def _lvl(ilvl: int, fmt: str, text: str, indent: int, hanging: int, bold: bool,
         suffix: str = "space") -> str:
    rpr = "<w:rPr><w:b/></w:rPr>" if bold else ""
    return (f'<w:lvl w:ilvl="{ilvl}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/>'
            f'<w:suff w:val="{suffix}"/><w:lvlText w:val="{text}"/><w:lvlJc w:val="left"/>'
            f'<w:pPr><w:ind w:left="{indent}" w:firstLine="{hanging}"/></w:pPr>{rpr}</w:lvl>')


def _numbering(doc, lang: str) -> None:
    """Two list definitions: section headings, and clauses with their items."""
    if lang == "zh":
        sections = _lvl(0, "chineseCounting", "%1、", 0, 0, False, "nothing")
        clauses = (_lvl(0, "chineseCounting", "第%1条", 0, 480, True)
                   + _lvl(1, "chineseCounting", "（%2）", 0, 480, False))
    else:
        sections = _lvl(0, "decimal", "%1.", 0, 0, False)
        clauses = (_lvl(0, "decimal", "Article %1.", 0, 0, True)
                   + _lvl(1, "lowerLetter", "(%2)", 720, 0, False))
    numbering = doc.part.numbering_part.element
    first_num = numbering.find(qn("w:num"))
    for num_id, levels in ((SECTION_NUM, sections), (CLAUSE_NUM, clauses)):
        abstract = parse_xml(f'<w:abstractNum {nsdecls("w")} w:abstractNumId="{num_id}">'
                             f'<w:multiLevelType w:val="multilevel"/>{levels}</w:abstractNum>')
        if first_num is not None:  # abstract definitions precede the w:num entries
            first_num.addprevious(abstract)
        else:
            numbering.append(abstract)
        numbering.append(parse_xml(f'<w:num {nsdecls("w")} w:numId="{num_id}">'
                                   f'<w:abstractNumId w:val="{num_id}"/></w:num>'))


def _number(paragraph, num_id: int, level: int) -> None:
    ppr = paragraph._p.get_or_add_pPr()
    num_pr = parse_xml(f'<w:numPr {nsdecls("w")}><w:ilvl w:val="{level}"/>'
                       f'<w:numId w:val="{num_id}"/></w:numPr>')
    style = ppr.find(qn("w:pStyle"))
    if style is not None:
        style.addnext(num_pr)
    else:
        ppr.insert(0, num_pr)


def _border(paragraph) -> None:
    ppr = paragraph._p.get_or_add_pPr()
    sides = "".join(f'<w:{side} w:val="single" w:sz="6" w:space="4" w:color="000000"/>'
                    for side in ("top", "left", "bottom", "right"))
    ppr.append(parse_xml(f'<w:pBdr {nsdecls("w")}>{sides}</w:pBdr>'))


def _page_numbers(doc) -> None:
    footer = doc.sections[0].footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer._p.append(parse_xml(f'<w:fldSimple {nsdecls("w")} w:instr=" PAGE ">'
                               '<w:r><w:t>1</w:t></w:r></w:fldSimple>'))


# ---------------------------------------------------------------------------------------------
# Footnotes


class _Footnotes:
    """A footnotes part (``word/footnotes.xml``) with Word's two separator notes, and
    references to it from the body."""

    def __init__(self, doc, lang: str):
        xml = (f'<w:footnotes {nsdecls("w")}>'
               '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
               '</w:footnote>'
               '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r>'
               '<w:continuationSeparator/></w:r></w:p></w:footnote></w:footnotes>')
        self.element = parse_xml(xml)
        part = XmlPart(PackURI("/word/footnotes.xml"), CT.WML_FOOTNOTES, self.element,
                       doc.part.package)
        doc.part.relate_to(part, RT.FOOTNOTES)
        settings = doc.settings.element
        compat = settings.find(qn("w:compat"))
        if compat is not None:
            compat.addprevious(parse_xml(
                f'<w:footnotePr {nsdecls("w")}><w:footnote w:id="-1"/><w:footnote w:id="0"/>'
                '</w:footnotePr>'))
        self.count = 0
        self.lang = lang
        self.first: dict[str, int] = {}

    def add(self, paragraph, text: str) -> None:
        self.count += 1
        n = self.count
        text = repeat_note(text, self.first, n, self.lang)
        ref = paragraph.add_run()._r
        ref.get_or_add_rPr().append(_superscript())
        ref.append(parse_xml(f'<w:footnoteReference {nsdecls("w")} w:id="{n}"/>'))

        note = OxmlElement("w:footnote")
        note.set(qn("w:id"), str(n))
        p = OxmlElement("w:p")
        mark = OxmlElement("w:r")
        mark_rpr = OxmlElement("w:rPr")
        mark_rpr.append(_superscript())
        mark.append(mark_rpr)
        mark.append(OxmlElement("w:footnoteRef"))
        body = OxmlElement("w:r")
        rpr = OxmlElement("w:rPr")
        size = OxmlElement("w:sz")
        size.set(qn("w:val"), "18")
        rpr.append(size)
        body.append(rpr)
        t = OxmlElement("w:t")
        t.set(qn("xml:space"), "preserve")
        t.text = " " + text
        body.append(t)
        p.append(mark)
        p.append(body)
        note.append(p)
        self.element.append(note)


def _superscript():
    align = OxmlElement("w:vertAlign")
    align.set(qn("w:val"), "superscript")
    return align
