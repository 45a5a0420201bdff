"""The words Chinese name rules read: surnames, and the role labels and titles that announce a name.

SURNAMES, COMPOUND_SURNAMES      # 王, 欧阳
PATIENT, FAMILY, STAFF           # 患者：, 之子, 主刀：  (each name after one gets that role hint)
STAFF_TITLES, POLITE_TITLES      # 张主任, 王女士
"""

from __future__ import annotations

# Common single-character surnames (the ~300 most frequent cover > 95% of people) and compound ones.
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍"
    "庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华"
    "喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和"
    "仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉"
    "伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘"
    "亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵩帖蔚衣贝"
)
COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "令狐",
    "慕容",
    "尉迟",
    "公孙",
    "长孙",
    "宇文",
    "夏侯",
)
COMPOUND_SURNAMES += ("司徒", "司空", "西门", "南宫", "独孤", "端木", "澹台", "呼延", "轩辕", "百里", "钟离", "申屠")


def words(*names: str) -> list[str]:
    """The words of space-separated lists, each once, longest first."""
    return sorted({w for n in names for w in n.split()}, key=len, reverse=True)


# Header labels that are also words before a disease (新生儿高胆红素血症): a name follows them after a colon only.
HEADER_ONLY = "新生儿 婴儿 儿童 幼儿 居民 被保险人 投保人 参保人 受益人 被监护人 "
# Roles that announce a name, by the role hint their names get; a colon may follow (姓名：王小明).
PATIENT = words(
    "产妇 孕妇 伤者 死者 咨询人 求诊者 来访者 病员 体检者 受检人 患 他叫 她叫 孩子叫 代诉人 陈述者 "
    "就诊人 患者名 病人名 受托人 申请人 签署人 陪诊人 "
    "患者 病人 患儿 病患 姓名 患者姓名 病人姓名 受检者 就诊者 户名 用户 本人 我叫 我是 委托人 名字叫 名叫",
    HEADER_ONLY,
)
FAMILY = words(
    "家属 患者家属 家属姓名 其父 其母 其子 其女 其夫 其妻 之子 之女 之妻 之夫 之父 之母 之孙 之兄 之弟 "
    "之姐 之妹 丈夫 妻子 爱人 老伴 儿子 女儿 儿媳 女婿 母亲 父亲 哥哥 姐姐 弟弟 妹妹 孙子 孙女 外孙 侄子 "
    "联系人 紧急联系人 监护人 陪护 陪护人 陪同人 代理人 授权委托人 见证人 家长 我爸 我妈 我爸爸 我妈妈 "
    "我老公 我老婆 爸爸 妈妈 父 母 夫 妻 子 女 长子 长女 次子 次女 陪诊 甲方 乙方"
)
STAFF = words(
    "医 参加人员 参加者 出席人员 主持人 讨论者 汇报人 记录员 交班护士 接班护士 交班者 接班者 交班人 接班人 "
    "医生 医师 主治医师 主治医生 主任医师 副主任医师 住院医师 主管医师 管床医生 值班医生 经治医生 "
    "报告医生 报告医师 申请医生 审核医生 审核医师 接诊医生 会诊医师 会诊医生 谈话医师 谈话医生 记录医师 "
    "上级医师 查房医师 手术医生 手术医师 麻醉医生 麻醉医师 麻醉师 开单医生 送检医生 操作医师 操作者 "
    "检查医师 诊断医师 护士 责任护士 器械护士 巡回护士 洗手护士 手术室护士 护师 主管护师 护士长 药师 "
    "技师 主刀 主刀医生 术者 第一助手 第二助手 助手 一助 二助 三助 麻醉 记录人 记录者 记录 审核 审核人 "
    "审核者 报告人 检查者 签名 医师签名 医生签名 护士签名 患者签名 家属签名 签字 医师签字 医生签字 "
    "患者签字 家属签字 代签 签署人 主治 主任 科主任 副主任 院长 抄送 经办人 执行人 核对人 复核人 录入人"
)
# Roles that are also plain words (麻醉方式, 记录完整, 父母): a name follows them only after a colon or space.
NEED_COLON = set(
    words(
        "麻醉 记录 审核 签名 签字 助手 父 母 夫 妻 子 女 本人 代签 患 医 主治 主任 科主任 副主任 院长 抄送 甲方 乙方",
        HEADER_ONLY,
    )
)
STAFF_TITLES = words(
    "主任医师 副主任医师 主治医师 住院医师 主任 医师 医生 大夫 护士长 护士 护师 教授 院长 药师 博士 老师"
)
POLITE_TITLES = words("女士 先生 小姐 太太 阿姨 大爷 大妈 奶奶 爷爷 师傅 同志 老人 同学 小朋友")
