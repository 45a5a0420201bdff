"""English person names: after a title, a role label or a relation, before a degree, or opening a case sentence.

english_names("Dr. Emily Carter saw Mr. Smith; his daughter Mary Johnson agreed.")
# [Span("name", 4, 16, "Emily Carter", role="staff"), Span(... "Smith", role="polite"), ... "Mary Johnson"]
"""

from __future__ import annotations

import re

from qilin.privacy.spans import Span

_CAPITALISED = re.compile(r"[A-Z][a-z]")
# Smith, O'Connor, McDonald, Smith-Jones, and letters with accents (Siobhán, Rāwiri, Geneviève Tremblay-Nakamura)
_UP, _LOW = "A-ZÀ-ÖØ-ÞĀĒĪŌŪŁŚŻŹĆŞ", "a-zß-öø-ÿāēīōūłńśźżćęąñışğ"
_WORD = (
    rf"(?:[{_UP}]')?[{_UP}][{_LOW}]+(?:['’](?!s\b)[{_LOW}]+)?(?:[{_UP}][{_LOW}]+)?(?:-[{_UP}][{_LOW}]+)?"  # Fa'amausili
)
# A nickname in quotes may follow the first name: William "Bill" Turner.
# On one line: a name on the line above a clinic's name is no part of it (Dr Sarah Nguyen\nCarlton Medical Centre).
# Particles inside a name (Muhammad Hafiz bin Rosli, Arjun s/o Kumaravel, Ludwig van Beethoven), a surname in capitals
# after a given name (Obafemi ADEYEMI-COLE), a generation after it (Carlos Mendoza Jr.).
_PARTICLE = r"(?:bin|binte|binti|bte|s/o|d/o|a/l|a/p|van|von|de|da|del|der|dos|le|la)[ \t]"
# One space or tab between the words of a name: a run of them ends a form's cell (Name: Obafemi ADEYEMI-COLE   Hosp).
_NAME = re.compile(
    rf"(?:[A-Z]\.[ \t]?)?{_WORD}(?:[ \t][\"“][A-Z][a-z]+[\"”])?(?:[ \t][A-Z]\.)?"
    rf"(?:[ \t](?:{_PARTICLE})?(?:(?:Jr|Sr)\.|{_WORD}|[A-Z]{{2,}}(?:-[A-Z]{{2,}})?\b)){{0,3}}"
)
# A surname in capitals, as EMR headers and Hong Kong records write it: CHEN, Wei-Ling; LAU Ka Ming; Dr WONG.
_CAPS_NAME = re.compile(rf"[A-Z]{{2,}}(?:-[A-Z]{{2,}})?(?:,[ \t]*{_WORD}|(?:[ \t]+{_WORD}){{1,2}})\b")
# The header lines of a letter or an e-mail name a person: Re: Kimberly Nakamura, From: Hannah Schultz <h.s@...>.
_HEADER = re.compile(
    rf"(?:^|(?<=\n))(?:Re|RE|Subject|From|To|Cc|CC)[ \t]*:[ \t]*(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?[ \t]+)?"
    rf"({_WORD}(?:[ \t]+[\"“][A-Z][a-z]+[\"”])?(?:[ \t]+[A-Z]\.)?(?:[ \t]+{_WORD}){{0,2}})"
    r"(?=[ \t]*(?:[<(,\n]|'s\b|$)|[ \t]{2,})"
)
_TITLE_CAPS = re.compile(r"[A-Z]{2,}\b")  # Dr WONG
_STAFF_LABELS = (
    r"doctor|nurse|attending(?:\s+physician)?|physician|surgeon|assistant|anesthesiologist|anesthetist|"
    r"resident|fellow|intern|pcp|primary care physician|referring physician|consultant|provider|seen by|"
    r"referred by|dictated by|transcribed by|signed(?:\s+by)?|electronically signed by|reviewed by|witness|cc|"
    r"scribe|counsell?or|social worker|case manager|paramedic|crew|cnc|rn|charge nurse|charging rn|dietitian|"
    r"physiotherapist|pharmacist|registrar|handed off by"
)
_PATIENT_LABELS = (
    r"patient(?:'s)?(?:\s+name)?|pt\.?|name|patient name|this is|my name is|i am|i'm|child|baby(?:\s+(?:girl|boy))?|"
    r"infant|newborn|deceased|member|subscriber|insured|client|resident name|student|baby of"
)
_FAMILY_LABELS = (
    r"contact|emergency contact|next of kin|guardian|daughter|son|wife|husband|mother|father|sister|brother|spouse|"
    r"partner|caregiver|friend|niece|nephew|grandson|granddaughter|fianc[eé]e?|mom|dad|aunt|uncle|cousin|parents?|"
    r"guardians?|roommate|housemate|flatmate|coworker|co-worker|colleague|neighbou?r|boyfriend|girlfriend|"
    r"stepson|stepdaughter|stepmother|stepfather|grandmother|grandfather|interpreter|midwife|community midwife|"
    r"pediatrician|paediatrician|gp"
)
_LABEL = re.compile(
    rf"\b(?:(?P<staff>(?i:{_STAFF_LABELS}))|(?P<patient>(?i:{_PATIENT_LABELS}))|(?P<family>(?i:{_FAMILY_LABELS})))"
    r"\b,?[ \t]*[:(]?[ \t]*(?:(?:(?P<dr>Dr|Prof)|Mr|Mrs|Ms|Miss|Mdm|Mx)\.?[ \t]+)?"
)
# A greeting names whom it greets ("Hi Kevin,", "Dear Maria"): a capitalised word, then a comma or the line's end.
_GREETING = re.compile(
    r"\b(?:Hi|Hello|Hey|Dear|Thanks|Thank you|Best|Regards|Cheers|Love|Kia ora|Aloha),?[ \t]+"
    rf"({_WORD})(?=[ \t]*(?:[,!.]|$|"
    rf"[\u4e00-\u9fff]))",
    re.M,
)
# A sign-off, then the writer's name alone on the next line (Thanks,\nKwame; Kind regards,\nHannah Schultz).
_SIGN_OFF = re.compile(
    r"\b(?:Thanks|Thank you|Many thanks|Best|Best wishes|Regards|Kind regards|Best regards|Warm regards|Cheers|"
    r"Sincerely|Yours sincerely|Yours faithfully|Yours truly|Love|Warmly|Ngā mihi|Nga mihi|Mahalo),?[ \t]*\n[ \t]*"
    rf"({_WORD}(?:[ "
    rf"\t]+{_WORD}){{0,2}})"
    r"[ \t]*(?=\n|$|,)"
)
# A name in Latin letters after a Chinese label (联系人: Wang Fang): two words at least, as pinyin names are.
_ZH_LABEL = re.compile(r"(?:姓名|患者|病人|联系人|家属|医生|医师|签名)[ \t]*[:：][ \t]*")
_TITLE = re.compile(r"(?<![A-Za-z])(?:(?P<staff>Dr|Prof|Doctor)|(?P<polite>Mr|Mrs|Ms|Mx|Miss|Mdm))\.?[ \t]+")  # 的Dr. X
_SUFFIX = re.compile(
    rf"\b((?:{_WORD}|[A-Z]\.)(?:\s+[A-Z]\.)?\s+{_WORD}),\s*(?:MD|M\.D\.|RN|DO|NP|PA-C|PA|PhD|MBBS|CRNA|FACS)\b"
)
_AND_NAME = re.compile(r"[ \t]+(?:and|&)[ \t]+")
_PARTICLE_END = re.compile(_PARTICLE.replace("[ \\t]", ""))  # "Mary Johnson Was", "... DOB", "... de": trimmed
# A nickname in quotes: after "goes by" or "known as", alone in brackets after a name, or inside one (Marguerite
# "Peggy" Fitzgerald): the record's other mentions of it are then found too (I saw Peggy today).
_NICKNAME = re.compile(rf"(?:(?:goes by|known as|called|aka)[ \t]+|\([ \t]*|\b{_WORD}[ \t]+)[\"“]({_WORD})[\"”]")
_INVERTED = re.compile(rf",[ \t]*({_WORD})\b")
_CONSENT = re.compile(rf"\bI,\s+({_WORD}(?:\s+[A-Z]\.)?(?:\s+{_WORD}){{1,2}}),")
_AGE_AFTER = r",?\s+(?:is|was)?\s*an?\s+\d{1,3}[- ]year[- ]old|,\s*\d{1,3}\s?(?:M|F|yo|y/o)\b"  # is a 67-year-old, 45F
_CASE = re.compile(rf"(?:^|(?<=[.:\n]\s)|(?<=\n))({_WORD}\s+{_WORD})(?={_AGE_AFTER})")
# Capitalised words that follow "Patient"/"Name"/"son" but are not names.
_NOT_WORDS = (
    "The A An He She They His Her Their This That Is Was Has Had Who With Without Education Information Reports "
    "Denies Presented States Name Age Sex Male Female Unknown History Admitted Discharged Will Date ID DOB MRN "
    "Medical Record Number Phone Address Diagnosis Follow Seen Signed Consent Refused Declined At In On Of And Or "
    "Mr Mrs Ms Miss Mdm Mx Dr Prof Not No Yes None Today Tomorrow Emergency Department Room Unit Hospital Clinic "
    "Is Are "
    "Insurance Hi Hello Hey Dear Thanks Thank Sorry Please Should Could Would Can May Good Okay Ok Yes So Doctor "
    "Patient Nurse Sir Madam Team All Everyone There Again Colleague Colleagues Friends Family Parents Parent "
    "Follow-up "
    "Re RE WeChat WhatsApp Boy Girl Male Female Discharge Summary Referral Request Results Update Appointment Prior "
    "Urgent"
)
# A specialist's title is no name (Consultant Gastroenterologist, Attending Physician).
_SPECIALTY = re.compile(r"(?:ologist|ician|iatrist|urgeon|therapist|pharmacist|Nurse|Physician|Doctor)$")
_NOT_NAMES = set(_NOT_WORDS.split())
# Capitals that head a form's fields, not a surname.
_CAPS_WORDS = set(
    [
        "MRN",
        "DOB",
        "ID",
        "NHS",
        "NHI",
        "HKID",
        "NRIC",
        "ICU",
        "ED",
        "ER",
        "OR",
        "MD",
        "RN",
        "DNR",
        "GP",
        "PCP",
        "NA",
        "N/A",
        "TBD",
        "USA",
        "UK",
        "NPI",
    ]
)


def _name_at(text: str, pos: int) -> re.Match | None:
    m = _NAME.match(text, pos)
    if not m or m.group().split()[0] in _NOT_NAMES or _SPECIALTY.search(m.group().split()[0]):
        caps = _CAPS_NAME.match(text, pos)  # PATIENT NAME: CHEN, Wei-Ling
        return caps if caps and caps.group().split(",")[0].split()[0] not in _CAPS_WORDS else None
    words = m.group().split()
    while words and (words[-1] in _NOT_NAMES or words[-1] in _CAPS_WORDS or _PARTICLE_END.fullmatch(words[-1])):
        words.pop()
    return _NAME.match(text, pos, pos + len(" ".join(words))) if words else None


def english_names(text: str) -> list[Span]:
    """English person names with a role hint (staff, patient, family, polite)."""
    spans: list[Span] = []
    if not _CAPITALISED.search(text):  # no capitalised word, no English name (most Chinese text): skip the scans
        return spans
    for m in _LABEL.finditer(text):
        name = _name_at(text, m.end())
        if name:
            role = "staff" if m.group("dr") else next(k for k in ("staff", "patient", "family") if m.group(k))
            spans.append(Span("name", name.start(), name.end(), name.group(), role=role))
            both = _AND_NAME.match(text, name.end())  # Parents: Daniel Kim and Grace Park
            second = _name_at(text, both.end()) if both else None
            if second and " " in second.group():
                spans.append(Span("name", second.start(), second.end(), second.group(), role=role))
            first = _INVERTED.match(text, name.end()) if " " not in name.group() else None
            if first and first.group(1) not in _NOT_NAMES:  # Name: Doe, John (one person, one span)
                spans[-1] = Span("name", name.start(), first.end(1), text[name.start() : first.end(1)], role=role)
    for m in _HEADER.finditer(text):
        if m.group(1).split()[0] not in _NOT_NAMES and not _SPECIALTY.search(m.group(1)):
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="patient"))
    for m in _TITLE.finditer(text):
        name = _name_at(text, m.end()) or _TITLE_CAPS.match(text, m.end())
        if name:
            role = "staff" if m.group("staff") else "polite"
            spans.append(Span("name", name.start(), name.end(), name.group(), role=role))
    for m in _ZH_LABEL.finditer(text):
        name = _name_at(text, m.end())
        if name and " " in name.group():
            spans.append(Span("name", name.start(), name.end(), name.group(), role="patient"))
    for m in _GREETING.finditer(text):
        if m.group(1) not in _NOT_NAMES:
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="polite"))
    for m in _SIGN_OFF.finditer(text):
        if m.group(1).split()[0] not in _NOT_NAMES:
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="polite"))
    for m in _SUFFIX.finditer(text):
        spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="staff"))
    for m in _NICKNAME.finditer(text) if '"' in text or "“" in text else ():
        if m.group(1) not in _NOT_NAMES:
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="patient"))
    for m in _CONSENT.finditer(text):  # "I, James Miller, consent to"
        spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="patient"))
    for m in _CASE.finditer(text):
        if m.group(1).split()[0] not in _NOT_NAMES:
            spans.append(Span("name", m.start(1), m.end(1), m.group(1), role="patient"))
    return spans
