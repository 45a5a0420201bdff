"""Write Qilin's labelled PHI evaluation set (synthetic clinical notes, every value invented).

    PYTHONPATH=src python benchmarks/deid_evalset.py heldout   # src/qilin/resources/deid/heldout.jsonl
    PYTHONPATH=src python benchmarks/deid_evalset.py dev       # src/qilin/resources/deid/dev.jsonl

Each record: {"id", "text", "spans": [{"type", "start", "end", "value"}], "protected": [medical values that must
survive de-identification]}. A template marks PHI slots as {type} (or {type:n} for a second value of the type, so
two people get two names) and protected values as <<value>>. The held-out templates were written and committed
before the detector existed; the dev templates are the ones the detector was tuned on.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "qilin" / "resources" / "deid"

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND = ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "尉迟", "公孙"]
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞建国志文斌浩宇欣怡子涵梓轩雨桐思远嘉琪晓东海燕春梅"
)
EN_FIRST = ["John", "Mary", "Robert", "Linda", "Michael", "Susan", "David", "Karen", "James", "Emily", "Wei", "Olivia"]
EN_LAST = ["Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Moore", "Chen"]
PROVINCES = [
    ("浙江省", "杭州市", "西湖区"),
    ("广东省", "深圳市", "南山区"),
    ("江苏省", "南京市", "鼓楼区"),
    ("四川省", "成都市", "武侯区"),
    ("湖北省", "武汉市", "洪山区"),
    ("山东省", "青岛市", "市南区"),
    ("河南省", "郑州市", "金水区"),
    ("福建省", "厦门市", "思明区"),
]
MUNICIPALITIES = [("北京市", "朝阳区"), ("上海市", "浦东新区"), ("天津市", "河西区"), ("重庆市", "渝中区")]
ROADS = ["文三路", "科技园南路", "中山大道", "解放路", "人民北路", "建国路", "长江西街", "迎宾大道", "幸福巷"]
EN_STREETS = ["Main Street", "Oak Avenue", "Elm St.", "Maple Road", "Cedar Lane", "Harbor Blvd"]
EN_CITIES = [("Boston", "MA"), ("Springfield", "IL"), ("Austin", "TX"), ("Seattle", "WA")]
PLATE_PROV = "京沪粤浙苏川鄂鲁豫闽"
FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def id_number(rng: random.Random, valid: bool = True) -> str:
    """An 18-character resident ID (GB 11643): region, birth date, sequence, check digit."""
    body = f"{rng.choice(['110105', '330106', '440305', '510107', '420111'])}{rng.randint(1940, 2015)}"
    body += f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    if not valid:  # a typo in the check digit: still someone's ID
        check = rng.choice([c for c in "0123456789" if c != check])
    return body + check


def luhn_card(rng: random.Random, length: int) -> str:
    digits = [int(c) for c in rng.choice(["622202", "621700", "622848", "625965"])]
    digits += [rng.randint(0, 9) for _ in range(length - len(digits) - 1)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        total += (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 == 0 else d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def zh_name(rng: random.Random) -> str:
    surname = rng.choice(COMPOUND) if rng.random() < 0.12 else rng.choice(SURNAMES)
    return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))


def make_value(kind: str, rng: random.Random) -> str:
    """One PHI value of `kind` in a randomly chosen surface form."""
    r = rng.random()
    if kind == "name":
        return zh_name(rng)
    if kind == "name_mou":  # 张某某, 李某
        return rng.choice(SURNAMES) + rng.choice(["某某", "某"])
    if kind == "surname":
        return rng.choice(SURNAMES)
    if kind == "en_name":
        first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
        return rng.choice([f"{first} {last}", f"{first} {rng.choice('ABCDJKMR')}. {last}", f"{first} {last}"])
    if kind == "en_last":
        return rng.choice(EN_LAST)
    if kind == "id":
        v = id_number(rng, valid=r > 0.25)
        if rng.random() < 0.15:
            v = v[:6] + " " + v[6:14] + " " + v[14:]
        return v.translate(FULL) if rng.random() < 0.12 else v
    if kind == "phone":
        m = f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
        forms = [
            m,
            f"{m[:3]} {m[3:7]} {m[7:]}",
            f"{m[:3]}-{m[3:7]}-{m[7:]}",
            f"+86 {m[:3]} {m[3:7]} {m[7:]}",
            f"+86-{m}",
            f"0086{m}",
            m.translate(FULL),
        ]
        area, local = rng.choice([("010", 8), ("021", 8), ("0755", 8), ("0571", 8), ("028", 8)])
        num = str(rng.randint(10 ** (local - 1) * 2, 10**local - 1))
        forms += [f"{area}-{num}", f"({area}){num}", f"{area} {num[:4]} {num[4:]}", f"{area}-{num[:4]}-{num[4:]}"]
        return rng.choice(forms)
    if kind == "en_phone":
        a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(1000, 9999)
        return rng.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"+1 {a} {b} {c}"])
    if kind == "address":
        no = f"{rng.randint(1, 300)}号"
        tail = rng.choice(
            [
                "",
                f"{rng.randint(1, 20)}栋{rng.randint(1, 30)}0{rng.randint(1, 6)}室",
                f"{rng.randint(1, 9)}号楼{rng.randint(1, 4)}单元{rng.randint(1, 28)}0{rng.randint(1, 4)}",
            ]
        )
        if r < 0.5:
            p, c, d = rng.choice(PROVINCES)
            return f"{p}{c}{d}{rng.choice(ROADS)}{no}{tail}"
        if r < 0.8:
            c, d = rng.choice(MUNICIPALITIES)
            return f"{c}{d}{rng.choice(ROADS)}{no}{tail}"
        p, c, d = rng.choice(PROVINCES)
        return f"{c}{d}{rng.choice(['某小区', '阳光花园', '翠苑小区'])}{rng.randint(1, 30)}幢{rng.randint(101, 2505)}室"
    if kind == "en_address":
        city, state = rng.choice(EN_CITIES)
        return f"{rng.randint(10, 9999)} {rng.choice(EN_STREETS)}, {city}, {state} {rng.randint(10000, 99999)}"
    if kind == "date":
        y, m, d = rng.randint(1940, 2024), rng.randint(1, 12), rng.randint(1, 28)
        forms = [
            f"{y}年{m}月{d}日",
            f"{y}-{m:02d}-{d:02d}",
            f"{y}/{m}/{d}",
            f"{y}.{m:02d}.{d:02d}",
            f"{y}年{m:02d}月{d:02d}日",
            f"{y}年{m}月{d}号",
            f"{y} 年 {m} 月 {d} 日",
            f"{y}年{m}月{d}日".translate(FULL),
        ]
        return rng.choice(forms)
    if kind == "en_date":
        y, m, d = rng.randint(1940, 2024), rng.randint(1, 12), rng.randint(1, 28)
        months = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ]
        return rng.choice(
            [
                f"{months[m - 1]} {d}, {y}",
                f"{d} {months[m - 1][:3]} {y}",
                f"{m:02d}/{d:02d}/{y}",
                f"{y}-{m:02d}-{d:02d}",
                f"{months[m - 1][:3]}. {d}, {y}",
            ]
        )
    if kind == "record":
        n = rng.randint(100000, 9999999)
        return rng.choice(
            [str(n), f"ZY{n}", f"MZ-{n}", f"{rng.randint(2015, 2024)}-{n % 100000:05d}", f"00{n}", f"B{n}"]
        )
    if kind == "card":
        c = luhn_card(rng, rng.choice([16, 19]))
        return rng.choice(
            [
                c,
                " ".join(c[i : i + 4] for i in range(0, len(c), 4)),
                "-".join(c[i : i + 4] for i in range(0, len(c), 4)),
            ]
        )
    if kind == "plate":
        letters = "ABCDEFGHJK"
        tail = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4)) + str(rng.randint(0, 9))
        base = rng.choice(PLATE_PROV) + rng.choice(letters)
        return rng.choice([base + tail, f"{base}·{tail}", f"{base}·D{tail}", f"{base}-{tail}", f"{base} {tail}"])
    if kind == "email":
        user = rng.choice(["zhangwei", "li.ming", "wang_fang88", "j.smith", "chen2019", "patient.liu"])
        return f"{user}@{rng.choice(['163.com', 'qq.com', 'hospital.org.cn', 'mgh.harvard.edu', 'gmail.com'])}"
    if kind == "url":
        host = rng.choice(["www.renmin-hospital.cn", "fy.zjuh.org", "portal.clinic-example.com", "t.cn"])
        return rng.choice(
            [
                f"https://{host}/patient?id={rng.randint(1000, 99999)}",
                f"http://{host}/r/{rng.randint(10, 999)}",
                f"www.{host.split('.', 1)[1]}/case/{rng.randint(100, 999)}",
            ]
        )
    if kind == "ip":
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    if kind == "ssn":
        a, b, c = rng.randint(100, 665), rng.randint(10, 99), rng.randint(1000, 9999)
        return rng.choice([f"{a}-{b}-{c}", f"{a} {b} {c}"])
    raise ValueError(kind)


# The type each slot kind is labelled with in the evaluation.
SLOT_TYPES = {
    "name": "name",
    "name_mou": "name",
    "surname": "name",
    "en_name": "name",
    "en_last": "name",
    "id": "id",
    "phone": "phone",
    "en_phone": "phone",
    "address": "address",
    "en_address": "address",
    "date": "date",
    "en_date": "date",
    "record": "record",
    "card": "card",
    "plate": "plate",
    "email": "email",
    "url": "url",
    "ip": "ip",
    "ssn": "ssn",
}

# Written first, committed before any detector code: the half the figures are reported on.
HELDOUT = [
    "患者{name}，女，<<52岁>>，因“反复头晕<<3年>>”于{date}入院。身份证号：{id}，联系电话：{phone}。",
    "入院记录 姓名：{name} 性别：男 年龄：<<67岁>> 住院号：{record} 现住址：{address}",
    "家属{name}代诉：患者<<2天>>前出现发热，最高体温<<39.2℃>>，自服<<布洛芬0.2g>>后稍缓解。联系人电话 {phone}",
    "主治医师：{name}  出院日期：{date}  出院诊断：<<2型糖尿病>>，<<高血压病3级>>。出院带药：<<二甲双胍0.5g tid>>。",
    "{name_mou}，男，<<45岁>>，门诊号{record}，主诉咳嗽<<1周>>。查体：血压<<135/85mmHg>>，心率<<88次/分>>。",
    "患儿{name}，<<6岁>>，出生日期{date}，其母{name:2}陪同就诊，手机{phone}，家住{address}。",
    "病案号:{record}，患者{name}于{date}行<<腹腔镜胆囊切除术>>，术后<<第3天>>出院。",
    "{surname}女士，<<38岁>>，孕<<32周>>，血红蛋白<<98 g/L>>，邮箱{email}，预约复查请登录{url}。",
    "{surname}先生于{date}就诊，银行卡号：{card}，用于医保结算。空腹血糖<<7.8 mmol/L>>，<<HbA1c 8.1%>>。",
    "患者{name}驾车（车牌{plate}）来院，途中突发胸痛<<30分钟>>，心电图示<<ST段抬高>>，肌钙蛋白<<2.35 ng/mL>>。",
    "身份证{id}  姓名 {name}  电话{phone}  地址：{address}",
    "检查申请由医生{name}开具，影像调阅地址 {url} ，PACS 服务器 {ip}。CT示<<右肺上叶结节8mm>>。",
    "联系人：{name}（患者之子），电话：{phone}；患者既往<<慢性阻塞性肺疾病>>病史<<10年>>，"
    "长期吸入<<噻托溴铵18μg qd>>。",
    "患者{name}，住院号 {record}，入院日期 {date}，出院日期 {date:2}，住院<<14天>>，白细胞<<12.3×10^9/L>>。",
    "Patient {en_name}, a <<67-year-old>> man, was admitted on {en_date} with <<pneumonia>>. MRN: {record}. "
    "Phone {en_phone}.",
    "Dr. {en_name} reviewed the chart. DOB: {en_date}. SSN {ssn}. BP <<142/90 mmHg>>, HR <<96 bpm>>, "
    "temperature <<38.4 °C>>.",
    "Ms. {en_last} (email {email}) lives at {en_address}. She takes <<metformin 500 mg>> twice daily for <<6 months>>.",
    "Discharge summary. Patient: {en_name}. Date of discharge: {en_date}. Diagnosis: <<type 2 diabetes>>, "
    "<<HbA1c 9.2%>>.\nElectronically signed by {en_name:2}, MD",
    "Mr. {en_last} called from {en_phone}; his <<creatinine 1.8 mg/dL>> and <<eGFR 38 mL/min>> were reviewed. "
    "Portal: {url}",
    "Contact: {en_name}, card number {card}, IP {ip}. Plan: <<amoxicillin 875 mg>> q12h for <<10 days>>.",
    "医生{name}与患者家属{name:2}谈话，告知<<肝功能Child-Pugh B级>>，<<谷丙转氨酶 156 U/L>>。谈话时间{date}。",
    "患者{name}，证件号码{id}，医保卡绑定银行卡{card}，手机号码：{phone}，电子邮箱：{email}",
    "术前讨论：{name}主任、{name:2}医师参加。患者<<73岁>>，<<左心室射血分数45%>>，<<NYHA II级>>。",
    "随访：{date}电话随访{name_mou}（{phone}），诉<<血压130/80mmHg>>，继续<<氨氯地平5mg qd>>。",
    "护士{name}记录：<<体温36.8℃>>，<<血氧饱和度96%>>，<<尿量1500ml/24h>>。",
]

# The half the detector was tuned on: other sentences, the same kinds of values.
DEV = [
    "患者{name}，男，<<58岁>>，主因“胸闷<<2月>>”入院。身份证号码 {id}，电话{phone}。",
    "姓名：{name}；性别：女；出生日期：{date}；病历号：{record}；住址：{address}",
    "患者家属{name}签字同意手术，联系方式：{phone}。术前<<血小板 85×10^9/L>>，<<INR 1.3>>。",
    "管床医生：{name}，入院时间：{date}，诊断：<<急性心肌梗死>>，给予<<阿司匹林300mg>>嚼服。",
    "{name_mou}，<<34岁>>，住院号为{record}，孕<<12周>>，<<β-hCG 45000 mIU/mL>>。",
    "患者{name}，其女{name:2}（手机：{phone}）陪护，家庭住址：{address}。",
    "门诊号：{record}  就诊日期：{date}  医师签名：{name}  处方：<<头孢克肟0.1g bid>> × <<7天>>",
    "{surname}女士来电（{phone}），咨询<<甲状腺结节3类>>复查事宜，邮箱：{email}。",
    "{surname}先生，<<72岁>>，退休，驾驶{plate}，<<收缩压168mmHg>>，<<肌酐132μmol/L>>。",
    "报销银行卡：{card}（户名{name}），身份证：{id}。",
    "监护人{name}，联系地址{address}，电话 {phone}，患儿<<体重18kg>>，<<头孢曲松0.9g qd>>。",
    "系统日志：用户{name}于{date}从 {ip} 登录，访问 {url}。",
    "主诉：发热伴咳嗽<<5天>>。现病史：患者{name}<<5天>>前受凉后出现发热，<<体温38.9℃>>，<<CRP 86 mg/L>>。",
    "出院小结：患者{name}（病案号 {record}）于{date}入院，{date:2}出院，<<住院9天>>。",
    "Patient name: {en_name}. MRN {record}. Admitted {en_date}. <<Troponin I 2.1 ng/mL>>, <<LVEF 40%>>.",
    "Seen by Dr. {en_last} on {en_date}. Home address: {en_address}. Tel: {en_phone}.",
    "Mrs. {en_last}, <<54-year-old>> woman with <<hypertension>>, SSN: {ssn}, email: {email}.",
    "Progress note: <<WBC 14.2 x10^9/L>>, <<lactate 3.1 mmol/L>>, started on <<vancomycin 1 g>> q12h.\n"
    "-- {en_name}, RN",
    "Patient {en_name} (DOB {en_date}) reports <<chest pain for 2 hours>>; contact {en_phone}, web {url}.",
    "Miss {en_last} paid with card {card}; login from {ip}; follow up in <<2 weeks>>.",
    "值班医生{name}查房：患者<<神志清>>，<<GCS 15分>>，<<心率72次/分>>，<<血压118/76mmHg>>。",
    "患者{name}，身份证 {id}，车牌号{plate}，家住{address}，<<BMI 27.4>>。",
    "记录人：{name}  审核：{name:2}  日期：{date}  <<血钾3.2mmol/L>>，予<<氯化钾缓释片1g tid>>。",
    "请{surname}女士于{date}上午到<<内分泌科>>复诊，咨询电话{phone}，网址{url}。",
    "联系人{name}，邮箱{email}，工作单位IP {ip}，<<乙肝表面抗原阳性>>，<<HBV-DNA 2.3×10^5 IU/mL>>。",
]


def fill(template: str, rng: random.Random, record_id: str) -> dict:
    """Render one template: random values for its slots, their spans, and the protected values."""
    text, spans, protected, values = "", [], [], {}
    for piece in re.split(r"(\{[a-z_]+(?::\d)?\}|<<.+?>>)", template):
        if piece.startswith("<<"):
            protected.append(piece[2:-2])
            text += piece[2:-2]
        elif piece.startswith("{"):
            key = piece[1:-1]
            kind = key.split(":")[0]
            if key not in values:  # a second slot of a kind is a different value (two people, two dates)
                taken = {v for k, v in values.items() if k.split(":")[0] == kind}
                value = make_value(kind, rng)
                while value in taken:
                    value = make_value(kind, rng)
                values[key] = value
            spans.append(
                {
                    "type": SLOT_TYPES[kind],
                    "start": len(text),
                    "end": len(text) + len(values[key]),
                    "value": values[key],
                }
            )
            text += values[key]
        else:
            text += piece
    return {"id": record_id, "text": text, "spans": spans, "protected": protected}


def build(split: str, templates: list[str], n: int, seed: int) -> list[dict]:
    """`n` records cycling through the templates, values drawn with `seed`."""
    rng = random.Random(seed)
    return [fill(templates[i % len(templates)], rng, f"{split}-{i:03d}") for i in range(n)]


if __name__ == "__main__":
    split = sys.argv[1]
    templates = {"heldout": HELDOUT, "dev": DEV}[split]
    rows = build(split, templates, 200, seed={"heldout": 2, "dev": 1}[split])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    print(f"wrote {len(rows)} records to {OUT / f'{split}.jsonl'}")
