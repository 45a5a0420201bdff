"""Find PHI in a text: typed spans from patterns with context rules (no model, nothing downloaded).

    detect_phi("患者王小明，身份证号：110105198001011234，电话 138-1234-5678")
    # [Span("name", 2, 5, ...), Span("id", 11, 29, ...), Span("phone", 33, 46, ...)]

Identifiers with a fixed shape (IDs, cards, phones, emails, URLs, IPs, SSNs, plates, dates) are found by
pattern, checked where a check exists (ID check digit, Luhn) and accepted without the check when a label names
them (身份证号：... with a typo is still someone's ID). Record numbers and addresses are found after their labels
(住院号, MRN, 住址, Address) and, for addresses, by their administrative shape (省/市/区/路/号). Names come from
qilin.privacy.names. Medical values (doses, lab values, vital signs, ages, durations) match none of these shapes:
a date needs a year or a day, a phone a full number, an ID 15 or 18 characters.
"""

from __future__ import annotations

import re

from qilin.privacy.layout import layout_names
from qilin.privacy.names import find_names
from qilin.privacy.shapes import (
    export_cells,
    fill_gaps,
    international_phones,
    labelled_numbers,
    mentions,
    places,
    short_dates,
    user_names,
)
from qilin.privacy.spans import Span, halfwidth, id_check_ok, luhn_ok, squeeze_spaced
from qilin.privacy.tagger import with_tagged_names

_ND = r"(?<![0-9A-Za-z])"  # no digit or letter before
_NA = r"(?![0-9A-Za-z])"  # none after
_COLON = r"\s*[:：#】\]|｜]?\s*(?:为|是)?\s*"  # 住院号：, 【住院号】, MRN #, 住院号|123 (a table's cell)

_ID_LABEL = (
    r"(?:身[份分]证(?:号码|字号|号)?|证件号(?:码)?|公民身份号码|(?i:id\s*(?:card\s*)?(?:no\.?|number)|national id))"
)
_ID_SHAPE = r"\d{6}\s?\d{8}\s?\d{3}[0-9Xx]"
# after its label also a Taiwan ID (a letter, 1 or 2, eight digits: 身分證字號 A123456789)
_ID_LABELLED = re.compile(rf"{_ID_LABEL}{_COLON}({_ID_SHAPE}|\d{{15}}|[A-Z][12]\d{{8}}){_NA}")
# An unlabelled 18-character ID: region, a birth date 19xx/20xx, sequence, check character.
_ID_BARE = re.compile(rf"{_ND}\d{{6}}\s?(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:[0-2]\d|3[01])\s?\d{{3}}[0-9Xx]{_NA}")

_CARD_LABEL = re.compile(r"(?:卡|账户|帐户|账号|帐号|(?i:card|account))")  # 就诊卡：, 退款账户： (a 16-19 digit number)
_CARD = re.compile(rf"{_ND}\d{{4}}(?:[ -]?\d{{4}}){{3}}(?:[ -]?\d{{1,3}})?{_NA}")

_MOBILE = r"(?:(?:\+|00)?\s?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}"
_LANDLINE = r"(?:\(0\d{2,3}\)\s?|0\d{2,3}[\s-]?)\d{3,4}[\s-]?\d{4}"
_US_PHONE = r"(?:\+1[\s-]?)?(?:\(\d{3}\)\s?|\d{3}[\s-]|\d{3}\.(?=\d{3}\.))\d{3}[\s.-]\d{4}"
_SERVICE = r"[48]00[\s-]?\d{3}[\s-]?\d{4}"  # 400-820-1199, 800 numbers
# An extension after a full number belongs to it: 0512-67781234转8021, 87236666-8002, 555-0192 ext. 22.
_EXTENSION = r"(?:\s*(?:转|分机|(?i:ext\.?|x))\s*\d{1,5}|-\d{1,5})?"
_PHONE = re.compile(rf"(?<![0-9A-Za-z+])(?:{_MOBILE}|{_LANDLINE}|{_US_PHONE}|{_SERVICE}){_EXTENSION}{_NA}")
_PHONE_LABELLED = re.compile(
    r"(?:电话|手机|联系方式|座机|来电|传真|(?i:tel|phone|mobile|cell|fax(?: to)?|contact|ph)|\bHP)(?:号码)?"
    + _COLON
    + r"(\+?[\d(](?:[\d()\-]|[ ](?=[\d(])){5,18}\d)"  # one space between groups: a date may follow
    + _NA
)

_SSN = re.compile(rf"{_ND}\d{{3}}-\d{{2}}-\d{{4}}{_NA}|(?<=SSN)[\s:#]*(\d{{3}}[\s-]?\d{{2}}[\s-]?\d{{4}}){_NA}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IP = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\d|\.\d)")
_PLATE = re.compile(
    rf"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][·•\-\s]?[A-HJ-NP-Z0-9]{{5,6}}{_NA}"
)

_RECORD = re.compile(
    r"(?:住院号|门诊号|病案号|病历号|住院病历号|登记号|就诊号|档案号|病人ID|患者ID|检查号|影像号|工号|职工号|员工号|"
    r"超声号|病理号|检验号|放射号|CT号|MRI?号|X线号|心电图号|内镜号|胃镜号|标本号|申请单号|条码号|ID号|流水号|"
    r"体检号|(?<![\u4e00-\u9fff])(?:(?!药|械|设备|耗材|批|产品|试剂|型)[\u4e00-\u9fff]){1,4}(?:编号|单号)|"
    r"(?i:mrn|medical record (?:number|no\.?)|acct\.?\s*#?|account\s+(?:no\.?|number|#)|"
    r"(?:encounter|visit|admission|accession|hospital|case|chart|patient|unit|ur|health\s+record)\s+(?:no\.?|number|"
    r"#|id)))" + _COLON + rf"([A-Za-z]{{0,4}}-?\d[0-9A-Za-z\-]{{3,20}}){_NA}"
)

# Insurance and medical cards (typed card, as bank cards): labelled, letters and digits.
_CARD_LABELLED = re.compile(
    r"(?:医保卡号?|医保号|医保编号|社保卡号?|社会保障卡号?|就诊卡号?|医疗卡号|健康卡号?|诊疗卡号?|农合(?:证)?号|"
    r"医疗保险(?:卡)?号|保险单?号|保单(?:编)?号|(?<![银行])卡号|(?i:insurance(?:\s+(?:id|card|policy))?\s*(?:no\.?|number|#|id)?|"
    r"member\s+id|"
    r"policy\s+(?:no\.?|number)|medicare(?:\s+(?:no\.?|number|id|card))?|medicaid\s+(?:no\.?|number|id)|phn|"
    r"health\s+card))"
    + _COLON
    + rf"([A-Za-z]{{0,4}}-?[0-9](?:[0-9A-Za-z\-]|[ ](?=\d)){{4,28}}){_NA}"  # 就诊卡：6217 0012 3456 7788
)
# Chat and social accounts after their label: WeChat ids (letters first), QQ numbers, Weibo handles (any script).
_ACCOUNT_LABEL = (
    r"(?:微信(?:号|ID|id)?|(?i:wechat(?:\s*id)?)|QQ(?:号码?)?|(?<![A-Za-z])qq(?:号码?)?|微博(?:号|账号)?|抖音号?|快手号?|"
    r"支付宝(?:账号)?|用户名|登录名|账号|帐号|(?<![A-Za-z])(?:vx|VX|wx|WX)|V信|威信|钉钉号?|小红书号?|"
    r"(?i:skype|telegram|line\s*id|twitter|instagram))"
)
# An id is ASCII (微信随访, QQ群 are no ids); a Weibo or Douyin handle may be Chinese, after a colon only.
_ACCOUNT = re.compile(_ACCOUNT_LABEL + _COLON + r"(?:is\s+)?(@?[A-Za-z0-9][A-Za-z0-9_\-]{3,29})(?![A-Za-z0-9_\-/年月])")
_HANDLE = re.compile(
    r"(?:微博|抖音|快手|小红书)(?:号|账号|昵称|ID)?\s*(?:[:：]\s*|是|为)\s*(@?[\u4e00-\u9fffA-Za-z0-9_\-]{2,30})"
)
# A portal user name in English: a word with a digit, an underscore or an @ (username ahassan1982; not "login from").
_EN_ACCOUNT = re.compile(
    r"(?i:user\s?name|user\s?id|login|screen\s?name|handle)\s*(?:[:：]|is)?\s*"
    r"(@[A-Za-z][\w.\-]{2,29}|[A-Za-z][A-Za-z.\-]*[0-9_][\w.\-]*)(?![\w\-])"
)
# A nickname or a public account in quotes after its label (群内昵称“浩妈”, 公众号“健康某地”).
_QUOTED_HANDLE = re.compile(
    r"(?:昵称|网名|群名片|公众号|视频号|小程序|(?i:nickname))\s*[:：]?\s*[“\"「『]([^”\"」』\n]{2,24})[”\"」』]"
)
# A handle written with its @ anywhere (not an email: nothing name-like before the @).
_ACCOUNT_GATE = re.compile(_ACCOUNT_LABEL)
# What every label of it holds, but for those in Latin letters: a scan for these is the cheaper one on most texts.
_ACCOUNT_HAN = re.compile("微信|微博|抖音|快手|支付宝|用户名|登录名|账号|帐号|威信|钉钉|小红书")
# Hospitals and clinics: a proper name before a facility word. Generic ones (当地医院, 上级医院, 我院) are not.
_ORG_SUFFIX = re.compile(
    r"(?:医院|卫生院|卫生服务中心|卫生服务站|保健院|诊所|门诊部|医学中心|疾病预防控制中心|疾控中心|血液中心|急救中心|"
    r"(?:防治|卫生|研究|眼科|肿瘤|评估|诊疗|医疗|检测|检验)中心|防治所|"
    r"(?<=[\u4e00-\u9fff]{2})[一二三四五六七八九]院|体检中心|康复中心|养老院|敬老院|护理院|大药房|药店|"
    # workplaces and schools: a proper name before them too (not 初中学历, 小学文化)
    r"有限公司|有限责任公司|公司|集团|幼儿园|研究所|研究院|[中小]学(?!历|文化|生|时|期|阶段|以|毕业|程度|水平)|"
    r"(?:大学|学院)(?!历|文化|生|时|期|阶段|以|毕业|程度|水平|里|学位|路|街|道|巷|[东西南北]|村|站|城))"  # not 学院路
)
_ORG_OPENER = re.compile(r"(?:患者|患儿|病人|孩子|家属|本人|其|该|本|我|你|他|她)+")  # 患儿幼儿园小班: no name before
_ORG_GATE = re.compile(r"院|诊所|中心|门诊|公司|集团|学|药|所")
# A workplace after its label, to the end of the cell: 工作单位：苏州市第三中学, Employer: Midwest Freight Logistics.
_WORKPLACE = re.compile(
    r"(?:(?<![剂计量价])(?:工作单位|单位|就职单位|所在单位)\s*[:：]|就职于|任职于|供职于)\s*"  # 多少单位能: units
    r"([\u4e00-\u9fff][\u4e00-\u9fffA-Za-z0-9]{3,30})"
    r"|\b(?:Employer|Employed (?:at|by)|Works at|Workplace)\s*[:\-]?\s*"
    r"([A-Z][\w&'.-]*(?:[ \t]+(?:[A-Z][\w&'.-]*|of|and|&))*)"
)
_NOT_WORKPLACE = re.compile(r"(?:无|不详|退休|个体|务农|自由职业|待业|在家|学生)")
_DIGIT = re.compile(r"\d")
_LATIN = re.compile(r"[A-Za-z]")
_CAPITALISED = re.compile(r"[A-Z][a-z]")
_ORG_STOP = set(
    "在于至到往转赴去自从入及与的是为了我本该此其诊收住送经曾由来需要回看像含、，,。；;：:（()）) \t\n\"“”'"
)
_ORG_GENERIC = re.compile(
    r"(?:第[一二三四五六七八九十\d]+|人民|中心|附属|中医|中西医结合|儿童|妇幼|妇产|肿瘤|口腔|眼科|骨科|胸科|传染病|精神病|"
    r"精神卫生|康复|专科|综合|大学|医科大学|医学院|医院|分院|总|市|县|区|省|社区|乡镇|私立|公立|民营|大型|正规|三甲|二甲|"
    r"三级|二级|一级|甲等|上级|下级|基层|当地|外地|附近|就近|其他|各级|多家|某|定点|教学|军队|部队|地方|同一|这家|那家|一家|"
    r"你们|我们|他们|咱们|您们|贵|出险|就诊|首诊|接诊|收治|所在|原|工作|上班|有限|分|子|母|本|该|小|中|大|初|高|"
    r"保险|商业|医药|制药|药|物流|快递|科技|网络|银行|建筑|装修|运输|贸易|餐饮|家政|外企|国企|私企|合资|上市|这个|那个|"
    r"一个|别的|新|老|有|什么|很多|许多|一些|合作|连锁|零售|社会|任意|女儿|儿子|孩子|考上|考|读|念|上|哪家|哪个|以上|以下|级|互联网|网上|线上|[\u4e00-\u9fff]{1,5}病|定点|指定)+$"
)
# A proper name before a facility word, on one line (a name on the line above is no part of it): Riverside Family
# Medicine, Maple Grove Nursing Home, Sunrise Senior Living; and University of Michigan.
_EN_ORG = re.compile(
    r"(?<![A-Za-z])(?:St\.?[ \t]+)?(?:(?:[A-Z][a-z'’]+|of|and|&)[ \t]+){0,5}[A-Z][a-z'’]+[ \t]+"  # 我是Mayo Clinic
    r"(?:Hospitals?(?:[ \t]+(?:Center|Centre))?(?:[ \t]+of(?:[ \t]+[A-Z][a-z]+){1,2})?|Medical Center|Medical Centre|"
    r"Clinic|Health Centre|Health Center|Health System|Infirmary|Cancer Center|Surgical Center|Burn Center|Centre|"
    r"Surgery|Pediatrics|Paediatrics|Dermatology|Home Infusion|Rehabilitation Centre|"
    r"Children's Hospital|Family Practice|Family Medicine|Associates|School|University|College|Medical Group|"
    r"Physicians Group|Partners|Nursing Home|Care Home|Care Center|Rehabilitation Center|Senior Living|"
    r"Assisted Living|Hospice|Pharmacy|Urgent Care|Inc\.|LLC|Ltd\.?|Corporation)(?![A-Za-z])"
    r"|\b(?:University|College) of(?:[ \t]+[A-Z][a-z]+){1,3}"
)
_EN_ORG_FIRST = {"The", "A", "An", "Our", "This", "That", "Local", "General", "Outside", "Community", "Emergency"}
_EN_ORG_FIRST |= {"Department", "Dept", "Division", "Service", "Unit", "Section", "Internal", "Family", "Of"}
_EN_DEPARTMENT = re.compile(
    r"(?:ology|ic|ac|al|ary|ive|ics|International|Day|Hand|Minor|Major|Private|Mohs|Laser|Eye)$"
)

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
# Dates written with digits (Safe Harbor: any element finer than the year; a year alone stays).
_WEEKDAYS = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_DATE = re.compile(
    "|".join(
        (
            r"\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?",  # 2023年5月12日, 2023年5月
            r"(?<!\d)\d{1,2}\s*月\s*\d{1,2}\s*[日号]",  # 5月12日
            r"(?<![\d.])(?:19|20)\d\d([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?![\d])",  # 2023-05-12
            r"(?<![\d/.])(?:0?[1-9]|[12]\d|3[01])([/.])(?:0?[1-9]|[12]\d|3[01])\2(?:19|20)\d\d(?!\d)",  # 05/12/2023
            rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b",  # May 12, 2023
            rf"\b\d{{1,2}}\s+{_MONTHS}\.?,?\s+\d{{4}}\b",  # 12 May 2023
            rf"\b(?:{_WEEKDAYS},?\s+)?{_MONTHS}\.?\s+(?:\d{{1,2}}(?:st|nd|rd|th)?\b|(?:19|20)\d\d\b)",  # May 12
            r"(?:今年|去年|前年|同年|次年|当年|明年)?(?<!\d)\d{1,2}\s*月(?:初|中旬|上旬|下旬|底|末|份)",  # 5月初, 5月份
            r"(?<![\d.])(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])(?![-/.\d])",  # 2023-05, 2023.5
            r"(?<![\d/])(?:0?[1-9]|1[0-2])/(?:19|20)\d\d(?!\d)",  # 05/2023
            rf"\b\d{{1,2}}-{_MONTHS}-(?:19|20)?\d\d\b",  # 12-Mar-2024
            r"(?<![\d\-/.])(?:0?[1-9]|1[0-2])[-/](?:0?[1-9]|[12]\d|3[01])(?=\s+\d{1,2}:\d{2})",  # 06-20 08:00
            r"(?<![\d/.])(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/\d\d(?![\d/])",  # 1/15/24
            rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+of\s+{_MONTHS},?\s+(?:\d{{4}}\b)?",  # the 11th of November, 2023
        )
    )
)
# Dates in Chinese numerals: 二〇二三年五月十二日, 十二月五日, 二〇二三年五月.
_CN_DAY = r"(?:三十[一]?|二十[一二三四五六七八九]?|十[一二三四五六七八九]?|[一二三四五六七八九])\s*[日号]"
_DATE_CN = re.compile(
    rf"(?:[〇零一二三四五六七八九]{{4}}\s*年\s*)?(?:十[一二]?|[一二三四五六七八九])\s*月\s*{_CN_DAY}"
    r"|[〇零一二三四五六七八九]{4}\s*年\s*(?:十[一二]?|[一二三四五六七八九])\s*月"
)
# A time of day written right after a date belongs to the date's span (2024-11-20 10:35).
_TIME_AFTER = re.compile(r"\s*(?:\d{1,2}[:：]\d{2}(?:[:：]\d{2})?|\d{1,2}\s*[时点](?:\s*\d{1,2}\s*分)?)")

_ADDRESS_LABEL = re.compile(
    r"(?:现住址|家庭住址|户籍地址|联系地址|通讯地址|工作单位地址|住址|家住|居住地|现住|住在|(?<![网IP])地址|"
    r"现?[ \t　]*住[ \t　]+址|地[ \t　]+址)" + _COLON
)
_ADDRESS_VALUE = re.compile(r"[\u4e00-\u9fff][\u4e00-\u9fff0-9A-Za-z\-#]{3,60}")
_PROVINCE = (
    r"(?:北京|上海|天津|重庆)市|(?:河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|贵州|云南|"
    r"陕西|甘肃|青海|台湾)省|(?:内蒙古|广西壮族|西藏|宁夏回族|新疆维吾尔)自治区|(?![在住于到至从是为的和及与])[\u4e00-\u9fff]{2,3}市(?=[\u4e00-\u9fff]{1,5}[区县])"
)
_ADDRESS_UNIT = r"[\u4e00-\u9fff]{1,8}?(?:市|区|县|镇|乡|村|路|街|大道|巷|弄|小区|花园|苑|大厦|广场|里|街道)"
_ADDRESS_NUMBER = r"[0-9\-]+(?:号院|号楼|号|栋|幢|楼|单元|层|室|弄|门)"
_ADDRESS = re.compile(rf"(?:{_PROVINCE})(?:{_ADDRESS_UNIT}|{_ADDRESS_NUMBER})+(?:(?<=单元|号楼)\d+室?)?")
# A housing estate with its building (幸福小区5栋1单元301): the number after it is what makes it an address; the name
# before it starts after the last function word (患者家住幸福小区 -> 幸福小区).
_ESTATE = re.compile(
    r"(?:(?![住在于的是和与及到至从者入诊])[\u4e00-\u9fff]){2,8}(?:小区|花园|家园|公寓|新村|苑|大厦)\d+(?:号楼|栋|幢|座|号院)(?:\d+(?:单元|层|楼|室|号))*\d*"
)
_ESTATE_GATE = re.compile(r"小区|花园|家园|公寓|新村|苑|大厦")
_STREET_NUMBER = re.compile(rf"[\u4e00-\u9fff]{{2,6}}(?:路|街|大道|巷)\d+号(?:{_ADDRESS_NUMBER})*")
# A US city with its state ("Quincy, MA"): Safe Harbor keeps the state only. Codes that are also clinical or
# English words are left out (Name, MD; PA-C; ID; IN; OR; ME; OK; HI), and CA before a number is CA 19-9.
_STATES = "AL AK AZ AR CA CO CT DE FL GA IL IA KS KY LA MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH RI SC SD TN TX UT"
_STATES += " VT VA WA WV WI WY DC"
_STATE = "(?:" + _STATES.replace(" ", "|") + ")"
_EN_CITY = re.compile(rf"\b[A-Z][a-z]+(?: [A-Z][a-z]+)?, {_STATE}\b(?! ?\d{{1,4}}\b| ?\d+-)(?: \d{{5}}(?:-\d{{4}})?)?")
_EN_ADDRESS = re.compile(
    r"(?:\b(?:Flat|Apt|Unit)\.?[ \t]*\w+,?[ \t]+|\b(?:Blk|Block)[ \t]+)?\b\d{1,5}[a-z]?\s+(?:[NSEW]\.?\s+)?"
    r"(?:(?:[A-Z][a-z]+|"
    r"\d{1,3}(?:st|nd|rd|th))\s+){1,3}"
    r"(?:Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Boulevard|Blvd\.?|Lane|Ln\.?|Drive|Dr\.|Dr(?=,)|Court|Ct\.?|Way|Place|"
    r"Pl\.?|Concourse|Esplanade|Grove|Parade|Quay|Row|Walk|Gardens|"
    r"Close|Crescent|Terrace|Circle|Parkway|Highway|Hwy|Square|Trail|Mews)(?:[ \t]+[NSEW]\b|[ \t]+\d{1,3}\b)?"
    r"(?:,?\s+(?:Apt|Suite|Unit|#)\.?\s*[\w-]+)?(?:,\s*[A-Z\u0100-\u017f][a-z\u0100-\u017f]+(?:\s[A-Z][a-z]+)?"
    r"(?:[ \t]+\d{1,2}\b(?![ \t]*\d))?)?"
    r"(?:,?[ \t]*[A-Z]{2,3}\b)?(?:,?[ \t]+(?:\d{4,6}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})\b)?"
    # a street with no number, a town, a state and a postcode (Praed Street, London W2 1NY; Great George Street,
    # Leeds LS1 3EX; Hawkesbury Road, Westmead NSW 2145)
    r"|\b(?:[A-Z][a-z]+[ \t]+){1,3}(?:Street|Road|Lane|Avenue|Close|Crescent|Terrace),[ \t]*[A-Z][a-z]+"
    r"(?:[ \t]+[A-Z]{2,3})?"
    r"[ \t]+(?:[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}|\d{4})\b"
    # a Singapore unit and postcode (#08-214, Singapore 460512)
    r"|#\d{1,3}-\d{1,5}(?:,[ \t]*Singapore[ \t]+\d{6})?"
)

# Which span wins where two overlap: shapes with a check or a label before free-form guesses.
_ORDER = ("email", "url", "id", "card", "ssn", "record", "account", "ip", "phone", "date", "plate", "org")
_PRIORITY = {t: i for i, t in enumerate((*_ORDER, "address", "name"))}
# An organisation and an address are both free-form guesses: where they overlap the longer one wins (an address that
# holds a university, 珞喻路1037号华中科技大学韵苑27栋; a hospital whose name holds its district).
_PRIORITY["org"] = _PRIORITY["address"]


def _group_spans(kind: str, pattern: re.Pattern, text: str, original: str, group: int = 0) -> list[Span]:
    spans = []
    for m in pattern.finditer(text):
        g = group if group and m.group(group) is not None else 0
        start, end = m.span(g)
        value = original[start:end].rstrip(" -.,")
        if value:
            spans.append(Span(kind, start, start + len(value), value))
    return spans


def _dates(text: str, original: str, pattern: re.Pattern) -> list[Span]:
    spans = []
    for m in pattern.finditer(text):
        end = m.end()
        time = _TIME_AFTER.match(text, end)
        if time and (text[end - 1].isdigit() or text[end - 1] in "日号"):  # 2024-11-20 10:35, 5月12日 10时
            end = time.end()
        spans.append(Span("date", m.start(), end, original[m.start() : end]))
    return spans


def _candidates(text: str, original: str) -> list[Span]:
    # Each pattern runs only where its shape can occur (a digit, an @, a label's character): most of a CPT corpus
    # has no digit at all, and skipping a scan is what keeps this as fast as the smaller detector it replaced.
    spans: list[Span] = []
    latin = _LATIN.search(text) is not None
    if _DIGIT.search(text):
        # and a labelled pattern only where its label can be: each Chinese label holds one of these characters
        numbered, latin_or = "号" in text or latin, lambda *marks: latin or any(m in text for m in marks)
        if latin_or("证", "身"):
            spans += _group_spans("id", _ID_LABELLED, text, original, 1)
        spans += _group_spans("id", _ID_BARE, text, original)
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            labelled = _CARD_LABEL.search(text[max(0, m.start() - 12) : m.start()])
            if 16 <= len(digits) <= 19 and (labelled or luhn_ok(digits)) and not id_check_ok(digits):
                spans.append(Span("card", m.start(), m.end(), original[m.start() : m.end()]))
        spans += _group_spans("phone", _PHONE, text, original)
        if latin_or("电", "手机", "联系方式", "座机", "传真"):
            spans += _group_spans("phone", _PHONE_LABELLED, text, original, 1)
        spans += _group_spans("ssn", _SSN, text, original, 1) if latin_or("-") else []
        spans += _group_spans("ip", _IP, text, original) if "." in text else []
        spans += _group_spans("plate", _PLATE, text, original) if latin else []
        spans += _group_spans("record", _RECORD, text, original, 1) if numbered else []
        spans += _group_spans("card", _CARD_LABELLED, text, original, 1) if numbered or "卡" in text else []
        spans += _dates(text, original, _DATE) if latin_or("月", "-", "/", ".") else []
        spans += _group_spans("address", _STREET_NUMBER, text, original) if "号" in text else []
        if _ESTATE_GATE.search(text):
            spans += _group_spans("address", _ESTATE, text, original)
        if latin:
            spans += _group_spans("address", _EN_ADDRESS, text, original)
    if "@" in text:
        spans += _group_spans("email", _EMAIL, text, original) + mentions(text, original)
    if "http" in text or "www." in text:
        spans += _group_spans("url", _URL, text, original)
    if (latin or _ACCOUNT_HAN.search(text)) and _ACCOUNT_GATE.search(text):
        spans += _group_spans("account", _ACCOUNT, text, original, 1)
        spans += _group_spans("account", _HANDLE, text, original, 1)
    if "“" in text or '"' in text or "「" in text or "『" in text:
        spans += _group_spans("account", _QUOTED_HANDLE, text, original, 1)
    if latin:
        spans += _group_spans("account", _EN_ACCOUNT, text, original, 1)
    if "月" in text:
        spans += _dates(text, original, _DATE_CN)
    spans += _orgs(text, original)
    if "," in text and _CAPITALISED.search(text):
        spans += _group_spans("address", _EN_CITY, text, original)
    if "住" in text or "地址" in text:
        for m in _ADDRESS_LABEL.finditer(text):
            value = _ADDRESS_VALUE.match(text, m.end())
            if value:
                spans.append(Span("address", value.start(), value.end(), original[value.start() : value.end()]))
    if "市" in text or "省" in text or "自治区" in text:
        spans += _group_spans("address", _ADDRESS, text, original)
    return spans


def _orgs(text: str, original: str) -> list[Span]:
    spans = []
    for m in _ORG_SUFFIX.finditer(text) if _ORG_GATE.search(text) else ():
        start = m.start()
        while (
            start > max(0, m.start() - 20)
            and text[start - 1] not in _ORG_STOP
            and "\u4e00" <= text[start - 1] <= "\u9fff"
        ):
            start -= 1
        while start > max(0, m.start() - 20) and text[start - 1].isdigit():  # 第3人民医院 is rare; 301医院
            start -= 1
        opener = _ORG_OPENER.match(text, start, m.start())
        start = opener.end() if opener else start
        prefix = text[start : m.start()]
        if len(prefix) >= 2 and not _ORG_GENERIC.match(prefix) and not text.startswith((":", "："), m.end()):
            spans.append(Span("org", start, m.end(), original[start : m.end()]))
    for m in _WORKPLACE.finditer(text) if "单位" in text or "职于" in text or "Employ" in text or "ork" in text else ():
        g = 1 if m.group(1) else 2
        if not _NOT_WORKPLACE.match(m.group(g)):
            spans.append(Span("org", m.start(g), m.end(g), original[m.start(g) : m.end(g)]))
    for m in _EN_ORG.finditer(text) if _CAPITALISED.search(text) else ():
        words = m.group().split()
        while words and words[0] in _EN_ORG_FIRST:
            words = words[1:]
        # a department, not a place: Rheumatology Clinic, Cardiac Surgery, Pediatric Dermatology, Day Surgery
        if len(words) >= 2 and not _EN_DEPARTMENT.search(words[0]) and not text.startswith((":", "："), m.end()):
            start = m.end() - len(" ".join(words)) if m.group().endswith(" ".join(words)) else m.start()
            spans.append(Span("org", start, m.end(), original[start : m.end()]))
    return spans


def resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans in text order: by type priority, then the longer span, first come first kept."""
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (_PRIORITY[s.type], -(s.end - s.start), s.start)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def detect_phi(text: str, known_names: tuple[str, ...] = ()) -> list[Span]:
    """Typed PHI spans of `text`, non-overlapping, in order; `known_names` are names found elsewhere in the record."""
    known_names = tuple(halfwidth(n) for n in known_names)  # 陳志強 found in one field is 陈志强 in the next
    spans = _detect(text, known_names)
    squeezed = squeeze_spaced(text)
    if squeezed:  # 姓 名：祝 英 台 is read once more as 姓名：祝英台, and what is found there maps back
        short, where = squeezed
        for s in _detect(short, known_names):
            start, end = where[s.start], where[s.end - 1] + 1
            spans.append(Span(s.type, start, end, text[start:end], s.role))
    return with_tagged_names(halfwidth(text), text, resolve_overlaps(spans))  # and names no rule announced


def _detect(text: str, known_names: tuple[str, ...]) -> list[Span]:
    half = halfwidth(text)
    spans = _candidates(half, text)
    exported = export_cells(half)  # CSV and tab-separated columns, JSON values, HL7 fields
    laid_out = layout_names(half) + [s for s in exported if s.type == "name"]  # searched for in the rest too
    spans += [Span(s.type, s.start, s.end, text[s.start : s.end]) for s in exported if s.type != "name"]
    known = known_names + tuple({s.value for s in laid_out if len(s.value) > 1}) if laid_out else known_names
    names = laid_out + find_names(half, known)
    spans += [Span("name", s.start, s.end, text[s.start : s.end], s.role) for s in names]
    spans += short_dates(half, text) + international_phones(half, text) + places(half, text) + user_names(half, text)
    return resolve_overlaps(fill_gaps(spans, labelled_numbers(half, text)))
