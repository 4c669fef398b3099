"""Complaint categories: keyword rules with negation, documented and configurable.

Each category has a code (stable, used in storage, alerts and config), a Chinese label for
reports, keywords, and a severity (0..1) used by the risk score. A keyword counts only when it is
not inside a negation scope (`nlp.negation`): `并未逾期` does not make a post `default`.

The `nlp.categories` config section adds to or replaces the built-in rules:

    nlp:
      categories:
        fees: {keywords: [年费, 账户管理费]}            # added to the built-in fee keywords
        default: {keywords: [展期], replace: true}      # replaces them
        esg: {label: 环境社会治理, keywords: [污染], severity: 0.3}   # a new category
        service: {concepts: [[柜员, 大堂经理], [骂人, 甩脸色]]}    # a word of each list in one sentence

A concept (`Concept`) is words of two or more lexicons found together (within `WINDOW` characters
of the first, in one sentence): it finds a complaint said in words no keyword list holds.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tempfile
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from nlp.features import PLACEHOLDER, char_grams, denies, feature_gram_keys, gram_keys
from nlp.linear import Found, KeyIndex, LinearModel, ModelFileError
from nlp.negation import negated_mask
from nlp.sentiment import softmax
from yuqing.config import ConfigError

CATEGORY_LABELS: dict[str, str] = {
    "fraud": "诈骗/非法集资",
    "debt_collection": "暴力催收",
    "mis_selling": "误导销售/理财亏损",
    "default": "逾期/兑付/暴雷",
    "fees": "乱收费",
    "account_funds": "账户与资金问题",
    "data_leak": "信息泄露",
    "contract": "合同纠纷",
    "service": "服务质量",
    "penalty": "监管处罚",
}

_BUILTIN: dict[str, tuple[float, tuple[str, ...]]] = {
    "fraud": (1.0, ("诈骗", "骗子", "骗局", "骗钱", "被骗", "骗走", "骗了", "骗我", "骗取", "行骗", "骗人", "骗老人",
                    "骗光", "骗的", "上当", "幌子", "旗号", "被抓", "抓获", "落网", "实控人失联", "老板失联",
                    "负责人失联", "受骗", "电诈", "公检法", "非法集资", "非法吸收公众存款", "集资诈骗", "传销", "庞氏",
                    "跑路", "卷款", "卷钱", "卷走", "携款", "潜逃", "人去楼空", "无影无踪", "挪用", "圈钱", "套路贷",
                    "资金盘", "杀猪盘", "拉人头", "刷单", "黑平台", "安全账户", "解冻金", "解冻费", "冒充", "假冒",
                    "涉嫌犯罪", "立案侦查", "经侦", "刑拘", "刑事拘留", "受害人", "钓鱼网站", "钓鱼链接", "假网站",
                    "假APP", "虚假平台", "虚假投资", "荐股群", "带单", "高额回报", "高回报", "诱饵", "虚构项目", "自融",
                    "非法经营", "黑网贷", "假客服", "以房养老", "套路", "空壳", "没备案", "未备案", "假项目", "内幕股",
                    "人不见了", "没了影", "没影了", "消失了", "联系不上", "空号", "拉黑", "把我删了", "删了我", "退群",
                    "原始股", "返利", "返佣", "垫付", "洗钱", "指定账户", "虚拟币", "炒外汇", "骗去", "私下收",
                    "个人账户", "月息", "所谓的", "是假的", "假平台", "投资群", "理财群", "网恋", "做任务", "激活费",
                    "流水不够", "刷流水", "百万保障", "共享屏幕", "屏幕共享", "远程控制", "征信修复", "虚拟货币",
                    "数字货币", "外汇平台", "卷款跑路", "矿机", "借新还旧", "资金池", "老板在逃", "刷单返现", "scam")),
    "debt_collection": (0.9, ("暴力催收", "催收", "催款", "催债", "讨债", "要债", "逼债", "追债", "爆通讯录", "通讯录",
                              "联系人", "轰炸", "威胁", "恐吓", "吓唬", "骚扰", "辱骂", "骂人", "张口就骂", "上门催",
                              "上门找", "上门堵", "堵门", "堵我", "泼油漆", "坐牢", "遗照", "P图", "老赖", "亲友",
                              "打到我单位", "打到我公司", "给我单位打电话", "打电话到我", "打给我家", "要上门", "扬言",
                              "侮辱", "人身攻击", "发到群里", "联系我家人", "打给我家人", "打给我同事", "打给我领导",
                              "打到我家", "告诉我家人", "打电话给我家人", "打电话给我同事", "打电话给我领导",
                              "打电话给我朋友", "律师函", "催贷", "催还", "催我", "催得", "催命", "狂打", "打爆",
                              "上门走访", "找上门", "到我店里", "到我家里", "紧急联系人", "欠钱不还", "欠款不还",
                              "吓人", "吓得", "不三不四", "半夜打", "大半夜", "逼我还", "逼着我", "通缉令", "P成",
                              "天天打电话", "天天打我", "harass", "collection agency")),
    "mis_selling": (0.7, ("误导销售", "销售误导", "误导", "诱导", "哄着", "忽悠", "虚假宣传", "夸大收益", "夸大宣传",
                          "承诺保本", "保本保息", "说好的保本", "稳赚", "只涨不跌", "闭眼买", "不会亏", "没风险",
                          "没有风险", "零风险", "无风险", "保证收益", "承诺收益", "稳赚不赔", "飞单", "理财亏损",
                          "亏损", "巨亏", "亏了", "亏掉", "亏惨", "亏得", "亏麻", "腰斩", "本金亏", "被套", "套牢",
                          "隐瞒风险", "隐瞒", "没告知风险", "没提示风险", "风险测评", "风险评估", "风险承受",
                          "违规销售", "冲业绩", "达不到", "才知道", "强制搭售", "搭售", "捆绑销售", "说成", "当成存款",
                          "当存款", "夸大", "说是保本", "说保本", "宣传保本", "刚性兑付", "刚兑", "拍胸脯", "打包票",
                          "风险等级", "存款变保单", "存单变保单", "存款变保险", "说是存款", "诱骗", "骗我买", "骗我签",
                          "骗我投保", "骗老人买", "套住", "割韭菜", "保本", "浮亏", "亏一半", "亏损了", "拿回一半",
                          "只能拿回", "兜底", "本金安全", "不会少", "跟存款一样", "和存款差不多", "像存款", "推销",
                          "翻倍", "稳稳的", "没听明白", "稀里糊涂", "糊里糊涂", "肯定赚", "保证赚", "风险都没有",
                          "没提风险", "只说年化", "只说收益", "测评结果", "分红险", "R4", "R5", "讲成", "跌破", "话术",
                          "理财亏", "基金亏", "亏本", "亏钱", "推荐我买", "劝我买", "让我买了", "拍着胸脯", "类固收",
                          "本金少了", "本金损失", "跟定存差不多", "跟定期差不多", "和定期差不多", "敲入", "只讲收益",
                          "不讲风险", "没讲风险", "适当性", "捆绑", "不买审批", "交费期")),
    "default": (0.9, ("逾期", "兑付困难", "无法兑付", "延期兑付", "推迟兑付", "拖延兑付", "暂停兑付", "停止兑付",
                      "分期兑付", "打折兑付", "兑付不了", "兑不了", "不兑付", "没兑付", "未兑付", "没有回款", "不还",
                      "拖欠", "到期不给", "到期没给", "到期未", "暴雷", "爆雷", "踩雷", "违约", "提现困难", "无法提现",
                      "不能提现", "提现失败", "提不了现", "暂停提现", "无法赎回", "赎回不了", "暂停赎回", "出不来",
                      "退不出来", "拿不回", "要不回", "资金链断", "清盘", "清退", "清算", "良性退出", "停业",
                      "停止运营", "倒闭", "挤兑", "展期", "赖账", "承兑", "失联", "一拖再拖", "遥遥无期", "无法出金",
                      "出金困难", "提现审核", "提现不到账", "无法退出", "资金链紧张", "延期", "还不上", "还不了",
                      "还不出", "没钱还", "不发了", "停发", "没返", "分期退", "每月只还", "资金回笼", "周转不开",
                      "资金周转", "资金紧张", "资产处置", "待收", "清偿", "撑不住", "到期没有", "到期没", "拖着不付",
                      "提现一直", "锁死", "要爆了", "推迟", "延期了", "又延期", "一再延期", "再次延期", "次延期",
                      "不给钱", "不还钱", "迟迟不还", "迟迟不兑", "回款慢", "不回款", "回款困难", "停止回款", "雷了",
                      "破产", "兑付危机", "收不回", "拿不到钱", "取不回", "不能兑付", "商票", "付不出")),
    "fees": (0.5, ("乱收费", "高利贷", "砍头息", "手续费", "服务费", "管理费", "年费", "违约金", "滞纳金", "会员费",
                   "赎回费", "退保费", "佣金", "评估费", "加速费", "通道费", "保障金", "担保费", "咨询费", "短信费",
                   "罚息", "高额利息", "乱扣费", "扣费", "自动续费", "变相收费", "收费", "收钱", "收我", "扣我",
                   "扣了我", "多扣", "多收", "偷偷扣", "收手续费", "扣手续费", "每月收", "每年收", "每笔收", "每次收",
                   "实际年化", "综合年化", "实际利率", "年利率高", "乱收", "收了我", "莫名扣", "莫名其妙扣", "利息太高",
                   "利息高", "开通会员", "强制开通", "强制收", "增值服务", "乱收取", "默认办", "默认开通", "被默认",
                   "被开通", "偷偷开通", "自动开通", "说要扣", "要扣", "算成年", "折成年", "换算成年", "低至", "自动续",
                   "入账费", "收了一笔", "另外收", "乱扣", "额外收", "被收了", "利滚利", "息费", "强制会员", "权益费",
                   "补偿金", "以前不要钱", "以前是免费", "坎头息", "service fee", "hidden fee", "hidden charge")),
    "account_funds": (0.8, ("冻结", "被冻", "冻卡", "盗刷", "被盗", "盗用", "被刷", "刷了", "资金被转", "被转走",
                            "转走", "扣走", "被划走", "冒领", "不翼而飞", "账户异常", "无法取款", "取不出", "取不了",
                            "没取出", "取个钱", "吞卡", "吞钱", "没出钞", "划扣", "扣款", "被扣", "误扣", "扣回",
                            "转账失败", "转不了", "转账不了", "不能转账", "限额", "限制了", "限制交易", "限制收款",
                            "限制转账", "非柜面", "锁卡", "封卡", "没做过的", "不是本人", "非本人", "不是我本人",
                            "余额少了", "钱少了", "销户", "没到账", "没有到", "不到账", "未到账", "不退回", "重复扣",
                            "登录不上", "登不上", "转不出", "无法转出", "卡用不了", "账户用不了", "钱用不了", "被限制",
                            "被封", "被锁", "交易异常", "莫名其妙被扣", "被消费", "境外消费", "在途", "吞了", "不动户",
                            "停用", "被停", "没出钱", "钱没出", "不给取", "取不到", "不让取", "一夜之间", "钱没了",
                            "钱不见了", "提不出", "没收到", "卡在里面", "一直失败", "办不了任何业务", "办不了业务",
                            "账户存在风险", "账户风险", "冻了", "莫名少了", "莫名其妙少了", "存款少了", "卡里少了",
                            "账户少了", "无故少了", "解冻", "被风控", "止付", "降额", "注销不了", "被block",
                            "block了")),
    "data_leak": (0.8, ("信息泄露", "泄露", "泄漏", "泄密", "外泄", "个人信息", "客户信息", "客户资料", "客户名单",
                        "隐私", "征信被查", "查询我的征信", "查询记录", "倒卖", "被卖", "转卖", "出售信息", "卖信息",
                        "内鬼", "违规获取", "非法获取", "过度收集", "拖库", "数据包", "数据泄露", "推销电话",
                        "营销电话", "营销短信", "借款信息", "身份信息", "冒用", "卡号", "病历", "漏洞", "滥用",
                        "怎么会有我", "怎么知道我", "信息哪来", "号码哪来", "知道我的", "报出我的", "说出我的",
                        "身份证号", "读取通讯录", "获取通讯录", "过度索权", "暗网", "我的信息", "我的资料", "谁卖的",
                        "被卖了", "打包卖", "贷款中介", "中介打电话", "轮番打电话", "说得出来", "说得出我", "报出我",
                        "报出了",
                        "截图发", "发错了人", "发错人", "没申请过", "未经授权", "没授权", "从哪拿到", "从哪弄",
                        "哪来的", "没留过", "串号", "别人的信息", "别人的名字", "姓名电话", "姓名手机号", "漏出去",
                        "收集", "查询机构", "我的姓名", "我的全名", "我的手机号", "我的存款金额", "我的号码",
                        "告诉了别", "别的客户", "晒客户", "完整卡号", "卖了我的", "信息被", "资料被", "号码被",
                        "身份都没核实", "没核实身份", "告诉了接电话", "privacy", "个人信息保护工作")),
    "contract": (0.5, ("合同纠纷", "协议纠纷", "违反合同", "合同约定", "合同里", "协议", "条款", "格式条款", "霸王条款",
                       "免责", "最终解释权", "单方面", "擅自", "私自更改", "随意更改", "无需通知", "不同意就", "起诉",
                       "诉讼", "仲裁", "法院", "法庭", "判决", "打官司", "官司", "强制执行", "拒赔", "拒绝赔付",
                       "不予赔付", "不给赔", "只肯赔", "不赔", "少赔", "拖赔", "理赔难", "理赔纠纷", "保障范围",
                       "如实告知", "退保难", "不给退保", "不让退", "不给解约", "不让解约", "续保", "解押", "不给调整",
                       "不给退", "不能退", "没签过", "代签", "冒签", "笔迹", "解释权", "霸王", "不公平", "退保损失",
                       "拒绝理赔", "不予理赔", "不理赔", "不给理赔", "理赔被拒", "拒付", "上调利率", "提高利率",
                       "利率上调", "调高利率", "退保", "现金价值", "合同写", "合同上写", "合同里有一条", "有权调整",
                       "有权随时", "协议改", "改了协议", "抵押注销", "注销抵押", "解除抵押", "理赔", "秒拒", "被拒了",
                       "有效吗", "责任免除", "以系统为准", "最高额保证", "债权转", "自动转存", "按轻症",
                       "密密麻麻")),
    "service": (0.3, ("服务差", "服务太差", "态度差", "态度不好", "态度极差", "态度恶劣", "态度非常恶劣", "服务态度差",
                      "服务意识", "不耐烦", "爱答不理", "爱理不理", "冷漠", "敷衍", "搪塞", "推脱", "推诿", "推来推去",
                      "互相推", "翻白眼", "排了", "一问三不知", "阴阳怪气", "不专业", "业务不熟", "不熟练", "办错",
                      "排队", "不理睬", "不理人", "没人理", "没人回", "没人管", "没人处理", "没人接", "不接电话",
                      "不回复", "没回复", "没有回复", "没回电", "不回电", "没消息", "石沉大海", "无人接听", "忙音",
                      "打不通", "转人工", "踢皮球", "刁难", "为难", "折腾", "白跑", "来回跑", "跑了几趟",
                      "一次性说清楚", "一次性告知", "跑了好几趟", "跑了两趟", "跑了三趟", "跑了四趟", "跑了五趟",
                      "复制粘贴", "模板回复", "绕圈子", "体验太差", "体验差", "闪退", "摆设", "机器人", "找不到人工",
                      "排长队", "没人修", "等了", "才有人接", "没解决", "没有解决", "不解决", "投诉无门", "效率低",
                      "效率太低", "效率极低", "不作为", "不管不顾", "一直没人", "不处理", "不给解决", "不给处理",
                      "拖着不", "不受理", "差评", "难打通", "系统崩溃", "卡死", "窗口只开", "只开了一个", "只开一个",
                      "快下班", "再来吧", "玩手机", "头都不抬", "工单", "没人跟进", "不通知", "输错", "聊天",
                      "说了三遍", "背话术", "挂我电话", "挂了我", "占线", "找都找不到", "扑了个空", "扑空", "答非所问",
                      "都没回", "一封都没", "一个电话都没", "只会发", "谁说了算", "发火", "凶我", "处理中", "机坏了",
                      "态度很差", "态度太差", "态度真差", "服务很差", "服务真差", "服务极差", "等了半天", "等半天",
                      "态度特别冲", "态度冲", "被吼", "对接人", "重新交材料", "没人来")),
    "penalty": (0.8, ("罚款", "罚单", "罚没", "罚了", "处罚", "行政处罚", "监管处罚", "警示函", "监管函", "通报批评",
                      "点名通报", "被通报", "责令", "限期整改", "停业整顿", "暂停新业务", "监管措施", "监管约谈",
                      "吊销", "被罚", "给予警告", "予以警告", "没收违法所得", "市场禁入", "禁止从事", "暂停执业",
                      "罚金", "约谈", "问责", "立案调查", "禁入", "受罚", "取消高管", "取消任职")),
}


def _lexicons(table: str) -> dict[str, str]:
    """`name word word …` lines (a line starting with spaces goes on with the one above, one
    starting # is a comment) → name: the words as one regular expression."""
    lexicons: dict[str, list[str]] = {}
    name = ""
    for line in table.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            words = line.split()
        else:
            name, *words = line.split()
        lexicons.setdefault(name, []).extend(words)
    return {name: "|".join(words) for name, words in lexicons.items()}


def _concepts_of(table: str) -> dict[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """`code name lexicon lexicon …` lines → code: (name, the lexicons' expressions) per concept."""
    concepts: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for line in table.split("\n"):
        if line.strip():
            code, name, *lexicons = line.split()
            concepts.setdefault(code, []).append((name, tuple(_LEXICONS[n] for n in lexicons)))
    return {code: tuple(found) for code, found in concepts.items()}


# Concepts: who did what to whom. A category's concept is found when a word of each of its lexicons
# occurs in one sentence within `WINDOW` characters, none in a negation scope: a collector and a
# harassment (催收的人…打到我公司), money and a return that did not come (本金…一分没见到), a product
# and what was promised against what was lost. The keyword lists name a complaint in so many words;
# the concepts find the complaints that say it in words no list holds.
# The concepts' lexicons, one a line: a name, then its words (regular expressions), a line that
# starts with spaces going on with the one above. A line starting # says why.
_LEXICONS = _lexicons(r"""
money         钱 本金 本息 积蓄 存款 资金 余额 货款 结算款 出借款 款项 利息 收益 养老钱 血汗钱
              [\d一二两三四五六七八九十几百千万]+[万元块]
due           到期 期满 说好 承诺 按期 按时 约定 季度付息 付息 兑付 还本 分红 分配 赎回
unpaid        没(?:有)?(?:支付|兑付|付|还|给|返|回来|见到|到账|收回|打给)
              一分(?:钱)?[都也]?没(?:给|返|还|见|拿|退|回) 未(?:支付|兑付|返还) 不(?:付款|返还|支付|兑付) 只还了利息
              拖着 压了 困在 收不回 要不回 拿不回 没能拿回 没还本金 不给(?:赎回|兑付|钱|还) 一直不给 暂缓 延后 推迟 停了
              停发 (?:无法|不能|没法)按期 挂着 才能(?:拿回|还清|还完|回本|回来) (?:都|还)没到 又说延长 没动静
shut          停止运营 停止经营 关网 关停 烂尾 资金链 拉横幅 维权群 良性退出 暂停了(?:所有)?(?:赎回|兑付|本息|提现)
              暂停赎回
claim         自称 冒充 假装 假扮 伪装成 谎称 声称是 说是[^，。]{0,8}(?:工作人员|客服|公安|警察|法院|银行)
pay_out       收了我[^，。]{0,8}费 转账 转到 转给 转过去 转了 汇款 充值 充了 交(?:了)?[^，。]{0,6}(?:费|金|税) 缴纳 打款
              借呗 套出来
withdraw      提现 出金 提币 提不出 解冻 取出来 取不出
pay_first     先交 要交 需缴纳 需要缴纳 再交 再充 交完 保证金 个人所得税 所得税 解冻费 手续费才
lure          稳赚 保赚 高收益 高额 返利 返息 日返 每天返 返\d 翻[倍十] 内部消息 内幕 跟着老师 带我 做单
              返[^，。]{0,3}%
gone          打不开 关网 联系不上 联系不到 找不到 关机 打不通 拉黑 删了 搬空 锁了 门店关了 人去楼空 注销了 不回了
              不接电话 跑了 人没了 都没了 不见了 没影 消失 解散 登不上
forged        伪造 假的 假章 刻的 编的 虚构 没备案 假牌照 假的私募
forged_what   合同 公章 项目 牌照 产品 资质 备案 私募
collector     催收 催款 催债 催的 外包 第三方机构 委托的 cs 对面 贷款公司的人 催收员
debt          逾期 欠款 欠钱 欠债 还款 还钱 不还 晚了 借款 借的钱 没还 分期
third         家人 家里人 爸妈 父母 我爸 我妈 老婆 老公 女朋友 男朋友 孩子 学校 同事 领导 公司 单位 老家 村委 村里
              邻居 小区 亲属 亲戚 朋友 户籍地 同学 前台 人事
harass        打电话 打给 打到 打了 派人 发短信 发信息 群发 发到 贴到 贴在 找我 上门 蹲 堵 骂 威胁 扬言 曝光 出名
              丢人 说我 小心点 等着 换号 P到 P成 发函 致电
# A threat on a condition (再不还就派人去你单位): the consequence is no negation's scope.
threat
              (?:不还|不处理|不联系)(?:钱|款)?(?:的话)?就[^，。]{0,12}(?:派人|上门|找|单位|公司|家|老家|村|起诉|坐牢|曝光|出名|丢人|发到|贴)
product       理财 基金 保险 保单 产品 私募 净值 信托 年金 分红险 终身寿 期权 结构性 股票 债基 寿险
promised      说 说是 说好 承诺 宣传 保证 吹 推荐 介绍 讲 跟我算 演示 写着 拍胸脯 号称
safe          安全 保本 不会出问题 不会有问题 没问题 托管 没亏过 不会亏 不亏 低风险 随时(?:能|可以|可)?取 跟存款一样
              和存款一样 稳 高收益 利息更高 收益高 年化 复利 全额退 至少 绝对收益 底部 从来没
lost          亏 跌 破净 只剩 往下 回撤 套了 套牢 只拿回 只能退 只给退 只退 损失 缩水 少 不算数 根本不是 才发现
              原来是 结果是 变成 拿回本金的 \d+%
deposit       存[\d一二两三四五六七八九十几百千万]+ 存钱 存款 存定期 定期 存单 存折 大额存单
policy        保险 保单 年金险 分红险 寿险 终身寿
found_out     才发现 原来 结果 出来手里 以为 拿的是 变成 变保 一看 回家 到家
suitability   风险测评 风险评估 风险等级 测评 R[3-5] 进取型 适当性
unsuited      代填 代做 帮我填 七十 八十 老人 不识字 不该卖 不匹配 没做 没让我做
fee           [\u4e00-\u9fff]{1,4}费 会员 权益包 权益卡 省钱卡 服务费 利息 年化 违约金 保险服务 扣了[\d几]+ 扣我 砍掉
              砍了 到手只有 到手
unasked       强制 捆绑 默认勾选 默认开通 不知情 没点过 没说 没提 没写 没告诉 没通知 没有任何通知 不买就 不开就
              不给放款 否则不 超过 太高 取消不了 找不到[^，。]{0,4}取消 偷偷 自动扣 居然 以前是免费 根本没 完全没写
              可没人说 没有提供 砍头 高炮
account       卡 账户 账号 余额 零钱 存折 存款 定期 工资 手机银行 ATM 户 钱 app APP
account_wrong 限制 受限 降成 降为 被封 封了 冻结 被锁 给锁了 锁死 少了 被扣 无缘无故 莫名 转走 异常 没吐 吐出来 吞
              取不出 不在余额 没到 没收到 没入账 用不了 登不上 登陆不了 登录不了 提前支取 我人在家 从来没用过 不是我
              本人从来没 久悬 激活才能 处理中 盗
info          信息 资料 名字 姓名 手机号 电话号码 号码 身份证 照片 持仓 流水 借款记录 额度 记录 通讯录 相册 定位 数据
              隐私 保单信息 名单 学校 小区 账号
leaked        知道 一清二楚 清清楚楚 说出 报出 叫出 准确 共享给 提供给 发在 发到 贴在 售卖 卖 看得 拿走 拿着 读取
              获取 权限 泄 另一个客户 别人的 看到对方
applied       办完 办了 申请过 申请 开户 投保 办卡 借款 拒贷 填的 填了 刚在 刚给 前脚
marketing     电话 加我 短信 推销 中介 推广 装修公司 贷款公司 陌生人
claim_ins     理赔 赔付 赔款 赔钱 赔偿 定损 保险 出险 住院
refused       拒 不赔 不算 只赔 只肯 只给 压价 不在[^，。]{0,6}名单 一分都不 一分不 不给赔 没结果 拖了
              以[^，。]{0,16}为由
contract      合同 协议 条款 约定 签 签名 签字 保单
rate          利率 费率 保费 加点 利息 月供
raised        调上去 调高 上调 提高 涨 调到 调成 改成
unilateral    自己就 单方面 没通知 没有通知 无需通知 擅自 直接 说协议 说合同 合同里有
breached      单方面 不认 不一样 没写 没标 霸王 替我签 不是我签 无需 有权 不给 拖着 照收 说[^，。]{0,6}不收
              跟他们没关系 跟我们没关系 写得很小 藏在 看不清 天书
surrender     退保 解约 抵押注销 注销抵押 解押 抵押
stalled       难 预约 等 拖 不给 材料不全 扣了 只给 只退
staff         柜员 大堂经理 客户经理 工作人员 保安 客服 专员 网点 窗口 热线 人工 理赔员 业务员 对方 她 他
rude          玩手机 不理 聊天 吃外卖 吃饭 说话[^，。]{0,2}冲 不耐烦 赶人 赶我 放鸽子 下班了 没人来 打不通 打不进
              挂断 复读 永远 从头说 少一样 慢悠悠 拉着脸 黑着脸 甩脸 自己去 自己不会 一直没 没人管 没有然后 爱答不理
              嫌
waited        等了 排了 排队 催了 跑了 转人工 预约了 提交了
# What an issuer says when it cannot pay (出了问题, 流动性, 重组), beside what it owes.
issuer        平台 公司 项目 产品 基金 信托 理财 P2P p2p 管理人 私募 创始人 老板
trouble       崩了 出了问题 出问题 重组 流动性 资金紧张 周转 没钱 撑不住 爆了 雷了 跑路
owed          兑付 本金 赎回 分红 分配 回款 返还 还钱 拿回 待收 利息 本息 货款
police        报警 报了警 报案 派出所 公安 立案 警察
taken         拿走 卷走 带走 骗走 吞了
long          [\d一两二三四五六七八九十几半]+(?:个)?(?:多)?(?:小时|分钟|趟|次|周|天|个月)
borrowed      借(?:了)?[\d一二两三四五六七八九十几百千万]+
got_less      到手(?:只有|才|就)?[\d一二两三四五六七八九十几百千万]+
""")
# code, concept name (the cue shown and learnt), the lexicons whose words it finds together.
_BUILTIN_CONCEPTS = _concepts_of(r"""
fraud 冒充×转钱 claim pay_out
fraud 提现×先交钱 withdraw pay_first
fraud 许诺×人没了 lure gone
fraud 交钱×人没了 pay_out gone
fraud 伪造×凭证 forged forged_what
fraud 报警×钱被拿走 police taken
debt_collection 催收×骚扰 collector harass
debt_collection 欠款×找第三方 debt third harass
debt_collection 不还就×威胁 threat
mis_selling 产品×许诺×亏 product promised safe lost
mis_selling 存款×变保单 deposit policy found_out
mis_selling 测评×不适当 suitability unsuited
default 到期×没付 due unpaid
default 钱×没付 money unpaid
default 平台×停摆 shut
default 出事×欠款 issuer trouble owed
fees 费×未经同意 fee unasked
fees 借×到手少 borrowed got_less
account_funds 账户×异常 account account_wrong
data_leak 信息×被知道 info leaked
data_leak 办业务×推销 applied marketing
contract 理赔×拒 claim_ins refused
contract 合同×违约 contract breached
contract 退保×难 surrender stalled
contract 利率×单方上调 rate raised unilateral
service 工作人员×怠慢 staff rude
service 等×很久 waited long
""")
# A news report names 罚款, 逾期, 起诉 as its news, a customer as a grievance: complaint keywords
# count less in a text that reads as a report and not as a customer's own words (see `assess`).
_REPORT = re.compile(r"记者|报道|讯|据悉|据了解|获悉|公告|通报|日电|消息|发布|披露|表示|回应|称|\d+月\d+日")
# A question (请问 … 年费怎么免, 求问) names a complaint without making one, as a denial does
# (`nlp.features.denies`: 辟谣, 不属实, 瞎传, 产品均正常兑付).
_QUESTION = re.compile(r"请问|想了解|咨询一下|有没有知道|有没有懂的|想问一下各位|想问问各位|求问|"
                       r"有没有人(?:去|办过|用过|知道|了解)")
# A fair appraisal beside a complaint that did not happen makes a clean record (see `assess`); a
# complaint that names what was not done (没让我做风险评估) has none.
_FAIR = re.compile(r"正规|顺利|清楚|不错|挺好|很好|放心|客气|没毛病|公道|说实话|还算|满意|省心|透明|准时|按时|"
                   r"一分不少|没问题|就行|靠谱")
# A text about preventing or warning of a fraud (拦截, 识破, 警惕, 防范) names the fraud it stopped,
# unless it also names its victims (已有十几人上当 … 提醒): then it reports a fraud that happened.
_PREVENTION = re.compile(r"拦下|拦截|拦着|劝住|劝下|劝着|没让[我她他]?转|堵截|识破|防范|谨防|提防|警惕|反诈|防骗|提醒|"
                         r"没有损失|没损失|及时冻结")
_VICTIMS = re.compile(r"(?:已有|已经有|多名|多位|多人|不少人|数十|几十|十几)[^，。,]{0,8}(?:上当|被骗|受骗|受害)|"
                      r"受害人|被骗走|骗光")
# Thanks or praise in the writer's own words (感谢…帮我拦下, 点赞, 暖心): with no complaint keyword
# outside a shield it counts against "negative" (see `assess`) — neither training file has thanks,
# and the news model reads the fraud a teller stopped (公检法, 报警) as news of a fraud.
_THANKS = re.compile(r"感谢|谢谢|多亏|幸亏|点赞|点个赞|暖心|给力|好评|表扬|称赞|赞一个|夸一下|靠谱|负责任|太专业|"
                     r"打call|yyds|感动|辛苦了|耐心|热心|很负责|挺负责|人性化|必须夸|respect", re.IGNORECASE)
# Thanks that is the point of a post (感谢, 点赞, 挺负责, 很耐心: not a "请耐心等待" quoted, nor a news
# site's 感谢您对本网的支持), and what
# turns it into a complaint after all: a contrast (但是钱到现在没退) or the writer's own loss
# (我自己的卡都给冻了, 一分都取不出来, 感谢…把我的信息…), as sarcasm has it.
_PRAISE = re.compile(r"感谢(?!您对)|谢谢(?!您对)|多亏|幸亏|点赞|点个赞|好评|必须夸|挺负责|很负责|人性化|真的耐心|"
                     r"很耐心|耐心地")
_BUT = re.compile(r"但|可是|可惜|不过|结果|却|就是|然而|只是|还是没|到现在|我自己|取不出|用不了|冻了|一分都|"
                  r"把我的|维权|涉嫌")
# Gratitude itself, of the thanks words (not 靠谱 or 耐心, which a report or a question uses too).
_GRATITUDE = re.compile(r"感谢|谢谢|多亏|幸亏|幸好|点赞|点个赞")
# Thanks for putting a complaint right (帮我冻结了卡, 原路退回, 追回来了) names the complaint it ended.
_PUT_RIGHT = re.compile(r"退回来|退回了|退了回来|原路退回|全部退|追回|帮我(?:冻结|挂失|锁|退|申请|办|解决|处理|查)|"
                        r"解决了|处理好了|恢复了|退还了")
# ... unless it is sarcasm: praise in scare quotes (真是"服务一流"), or thanks for an ordeal.
_SARCASM = re.compile(r"[\"“'‘][^\"”'’]{0,6}(?:一流|专业|贴心|高效|靠谱|负责|效率|周到|优质|良心|快|稳)"
                      r"[^\"”'’]{0,4}[\"”'’]|体验了一把|的快乐|锻炼身体|谢谢你们全家|真是谢谢|佩服佩服|厉害厉害|恭喜恭喜|"
                      r"真是人才|真会做生意|真贴心|真敬业|太良心了|慈善机构|学到了|名不虚传|教会我|给我上了一课|成功把我|"
                      r"让我明白了什么叫|终于学会了|太为我着想|帮我把[^，。]{0,10}变成|名人待遇|全村都知道|搞慈善|"
                      r"周到到|帮我省下了|效率感人")
# Irony that is sarcasm only around thanks or praise (forum posts say 呵呵 of anything).
_IRONY = re.compile(r"呵呵|服了|🙂")
_PRAISED = re.compile(r"周到|贴心|效率|稳定|厉害|太棒|全国第一")
_COMPLAINT_REGISTER = re.compile(r"我|俺|本人|投诉|维权|求助|曝光|避雷|太坑|坑人|过分|凭什么|怎么办|有没有人管|"
                                 r"血本无归|欲哭无泪|大家千万|良心")
# A grievance in the writer's own voice: a first person and, in the same sentence, what was
# promised against what happened (结果, 明明, 却), a refusal or a demand; or a promise held against
# the writer without a first person (说好的, 当初…说, 白纸黑字, 签的时候). There the context words
# of a contract, a claim or a loss (条款, 合同写, 理赔, 现金价值, 亏了) are the complaint itself, not
# its background, and the grievance is one keyword more where a complaint's word or an institution
# is named (chosen on sets A–E; over the whole training files it changes the polarity of 3 of 16,157
# forum posts and of no news text).
_GRIEVANCE = re.compile(r"(?:我|俺|本人)[^。！？!?；;\n]{0,40}?(?:说好|当初|明明|结果|居然|竟然|却|根本|白纸黑字|可没|"
                        r"没人说|没说过|凭什么|哪条|哪里有|不给|不让|不赔|不退|只能|只给|要求(?:退|赔|按|解决|处理)|维权|还我)|"
                        r"(?:说好|当初|明明|结果|居然|竟然|却|根本|白纸黑字|可没|没人说|没说过|凭什么|哪条|哪里有|"
                        r"不给|不让|不赔|不退|只能|只给|要求(?:退|赔|按|解决|处理)|维权|还我)[^。！？!?；;\n]{0,40}?(?:我|俺|本人)|"
                        r"说好的|当初[^。！？!?；;\n]{0,12}说|白纸黑字|可没说|签的时候|买的时候[^。！？!?；;\n]{0,12}说|"
                        r"拍着?胸脯|谁看得懂")
# Chosen by cluster-grouped CV on finnsp (see the model card): how much of the evidence weight a
# text outside the complaint register gets.
NEWS_SHARE = 0.3
# A category that explains another when both are found: a fine is reported with its cause (因销售误导
# 被罚), a fraud with what it did to the victims (跑路, 拿不回), a collector's threats with the
# borrower's own arrears (逾期), a fake court (法院) or the cards they threaten to freeze, a leak
# with the fraud or the calls it fed; a platform that cannot pay out (取不出, 提现失败) and whose
# managers cannot be reached is a default, a charge taken from the card (被扣了年费) is a fee, and
# the slow handling of a frozen or stolen account is the account's problem, and an adviser's fee
# beside the loss he sold (收了我会员费 … 亏掉一半本金) is the mis-selling. The post is about the first.
_EXPLAINS: dict[str, frozenset[str]] = {
    "penalty": frozenset(_BUILTIN) - {"penalty"},
    "fraud": frozenset({"default", "mis_selling", "fees", "account_funds", "service"}),
    "debt_collection": frozenset({"default", "fraud", "contract", "account_funds"}),
    "mis_selling": frozenset({"default", "fees"}),
    "data_leak": frozenset({"fraud", "debt_collection"}),
    "default": frozenset({"account_funds", "service"}),
    "fees": frozenset({"account_funds"}),
    "account_funds": frozenset({"service"}),
}
# Words that are mostly context in complaints of another kind (a fee in a contract dispute, a
# queue in a default, a loss in a margin call), or that stock forums use of prices and themes
# (翻倍, 跌破, 数字货币, 解冻 of shares): their category counts only when no other keyword of another
# category is found, and they are no evidence of a complaint (news names them too).
_CONTEXT_WORDS = frozenset({"协议", "条款", "合同里", "合同写", "法院", "手续费", "违约金", "会员费", "排队", "等了",
                            "冒充", "冒用", "免责", "亏了", "误导", "没到账", "没收到", "清算", "不能退", "才知道",
                            "套路", "律师函", "保本", "退保", "现金价值", "理赔", "延期", "处理中", "推销", "没申请过",
                            "卡号", "推荐我买", "劝我买", "让我买了", "翻倍", "跌破", "原始股", "数字货币", "兜底",
                            "稳稳的", "解冻", "低至", "收集", "矿机", "保障范围", "个人信息保护工作", "境外消费",
                            "补偿金"})
# Of the context words, those stock forums use of prices and themes: no grievance makes them a complaint.
_MARKET_WORDS = frozenset({"翻倍", "跌破", "数字货币", "解冻", "原始股", "兜底", "稳稳的", "低至", "矿机"})
DEFAULT_SEVERITY = 0.5
# The learnt model's probability of its best category above which it decides (`CategoryRules.report`):
# chosen by leave-one-set-out cross-validation over probe sets A–D (fitted on three, scored on the
# fourth), mean per-category F1 0.903 with the rules first, 0.915 at 0.6 (0.911–0.915 from 0.5 to 0.7).
LEARNT_CONFIDENT = 0.6
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


# The concepts loose enough to be found beside complaints of another kind (an account named in a
# default, what a collector knows, a contract in a fee complaint, a wait in a default): their category
# counts only when no keyword nor other concept names one.
_LOOSE = frozenset({"账户×异常", "信息×被知道", "办业务×推销", "合同×违约", "钱×没付", "等×很久", "工作人员×怠慢"})
WINDOW = 30  # how far (characters, in one sentence) a concept's words may lie from its first lexicon's
_SENTENCE_END = re.compile(r"[。！？!?；;\n]")


@dataclass(frozen=True)
class Concept:
    """Words of each lexicon (regular expressions) found together: the category's cue `name`."""
    name: str
    lexicons: tuple[str, ...]

    @cached_property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(lexicon) for lexicon in self.lexicons)

    def at(self, scan: _Scan) -> int | None:
        """Where the concept is found in the text (the start of its first lexicon's word), or None."""
        found = []
        for pattern in self.patterns:
            starts = scan.starts(pattern)
            if not starts:
                return None
            found.append(starts)
        for anchor in found[0]:
            if all(any(abs(at - anchor) <= WINDOW and scan.sentence(at) == scan.sentence(anchor) for at in starts)
                   for starts in found[1:]):
                return anchor
        return None


class _Scan:
    """One text as the concepts read it: where each lexicon's words start outside negation, found
    once per text (concepts share lexicons), and which sentence a position is in."""

    def __init__(self, text: str, mask: bytearray) -> None:
        self.text, self.mask = text, mask
        self._starts: dict[re.Pattern[str], list[int]] = {}
        self._ends: list[int] | None = None

    def starts(self, pattern: re.Pattern[str]) -> list[int]:
        found = self._starts.get(pattern)
        if found is None:
            found = self._starts[pattern] = [m.start() for m in pattern.finditer(self.text)
                                             if not _negated(m.start(), self.mask)]
        return found

    def sentence(self, at: int) -> int:
        """How many sentence ends there are up to `at` (itself included)."""
        if self._ends is None:
            self._ends = [m.start() for m in _SENTENCE_END.finditer(self.text)]
        return bisect_right(self._ends, at)


def _longest_first(words: Iterable[str]) -> str:
    """A regular expression matching, at each position, the longest of `words` found there (as
    their alternation longest first does), written as a trie (`招商(?:银行)?`): the engine follows one
    branch per character instead of trying every word at every position of the text."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def branch(node: dict[str, dict]) -> str:
        ways = [re.escape(ch) + branch(child) for ch, child in sorted(node.items()) if ch]
        if not ways:
            return ""
        body = ways[0] if len(ways) == 1 else f"(?:{'|'.join(ways)})"
        return f"(?:{body})?" if "" in node else body

    return branch(trie)


def _negated(at: int, mask: bytearray) -> bool:
    # Negated when a scope opened before the word runs into it; a word that is itself a negation
    # (不能提现, 无人接听) opens its own scope and still counts.
    return bool(at and mask[at] and mask[at - 1])


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    severity: float
    keywords: tuple[str, ...]
    concepts: tuple[Concept, ...] = ()


class CategoryRules:
    """Finds complaint categories in a normalised text."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        cats = {code: Category(code, CATEGORY_LABELS[code], sev, kws,
                               tuple(Concept(name, lex) for name, lex in _BUILTIN_CONCEPTS.get(code, ())))
                for code, (sev, kws) in _BUILTIN.items()}
        for code, spec in (overrides or {}).items():
            cats[code] = _override(cats.get(code), code, spec)
        self.categories = cats
        # What the learnt fallback may name (`report`): the built-in categories no config replaced.
        self._learnable = set(_BUILTIN) - {code for code, spec in (overrides or {}).items() if spec.get("replace")}
        owner: dict[str, set[str]] = {}
        for cat in cats.values():
            for kw in cat.keywords:
                owner.setdefault(kw, set()).add(cat.code)
        self._pattern = re.compile(_longest_first(owner))
        self._concepts = {concept.name for cat in cats.values() for concept in cat.concepts}
        for cat in cats.values():
            for concept in cat.concepts:
                owner.setdefault(concept.name, set()).add(cat.code)
        self._owner = owner

    @property
    def labels(self) -> dict[str, str]:
        return {c.code: c.label for c in self.categories.values()}

    def matches(self, text: str, negated: bytearray | None = None) -> list[str]:
        """The distinct keywords and concepts (by name) found outside a negation scope, in order of
        first occurrence; a keyword with one character written in pinyin (催shou, 暴lei) counts as
        the keyword. A concept of a category a keyword already names is not looked for: it would
        count the same complaint twice."""
        mask = negated if negated is not None else negated_mask(text)
        found = [(m.start(), m.group()) for m in self._pattern.finditer(text)]
        if _LATIN.search(text):
            found = sorted(found + self._spelt_in_pinyin(text))
        found = [(at, kw) for at, kw in found if not _negated(at, mask)]
        scan = _Scan(text, mask)
        named = {code for _, kw in found if kw not in _CONTEXT_WORDS for code in self._owner[kw]}
        for cat in self.categories.values():
            for concept in () if cat.code in named else cat.concepts:
                if (at := concept.at(scan)) is not None:
                    found.append((at, concept.name))
        return list(dict.fromkeys(kw for _, kw in sorted(found)))

    def _spelt_in_pinyin(self, text: str) -> list[tuple[int, str]]:
        """(start, keyword) of each keyword written with one character in pinyin."""
        found = []
        for run in _LATIN.finditer(text):
            start, end = run.span()
            for before, after, keyword in self._pinyin.get(run.group().lower(), ()):
                at = start - len(before)
                if at >= 0 and text.startswith(before, at) and text.startswith(after, end):
                    found.append((at, keyword))
        return found

    @cached_property
    def _pinyin(self) -> dict[str, list[tuple[str, str, str]]]:
        """Syllable → (the characters before it, those after, the keyword) of each keyword of two or
        more Chinese characters written with that one character in toneless pinyin, as people
        write to get past a platform's word filter or for speed (催shou, 逾qi, pian子). Built on
        the first text with Latin letters."""
        pinyin = _pinyin_of([keyword for keyword in self._owner if _HAN.match(keyword)])
        by_syllable: dict[str, list[tuple[str, str, str]]] = {}
        for keyword, syllables in pinyin.items():
            if len(syllables) == len(keyword):
                for i, syllable in enumerate(syllables):
                    by_syllable.setdefault(syllable, []).append((keyword[:i], keyword[i + 1:], keyword))
        return by_syllable

    def codes(self, keywords: list[str]) -> list[str]:
        """The categories of `matches` keywords, in the built-in order, less those another one
        found explains (`_EXPLAINS`). A loose concept (`_LOOSE`) names its category only when no
        keyword (but a context word) nor other concept names one: of a collector who publishes the
        debt (爆通讯录 … 都知道了) the leak concept finds the means, not the complaint."""
        found = {code for kw in keywords if kw not in _CONTEXT_WORDS and kw not in _LOOSE for code in self._owner[kw]}
        found = found or {code for kw in keywords if kw in _LOOSE for code in self._owner[kw]}
        found = found or {code for kw in keywords for code in self._owner[kw]}
        explained = {c for code in found for c in _EXPLAINS.get(code, ())}
        return [code for code in self.categories if code in found and code not in explained]

    def find(self, text: str, negated: bytearray | None = None) -> list[str]:
        """Category codes whose keywords occur outside a negation scope, in the built-in order."""
        return self.codes(self.matches(text, negated))

    def report(self, masked: str, codes: list[str]) -> list[str]:
        """The categories of a negative post. Where the learnt model (`_learnt`, fitted on the
        complaints of probe sets A–E) is confident (`LEARNT_CONFIDENT`) and the rules found a
        category or the post is in a customer's own words, its best category; else those the rules
        found (`codes`), or, where they found none in a customer's own words, the learnt model's
        best. The rules hold phrasings their authors listed and name a category by any one of its
        words, also where the word is context (a fee named in a contract dispute); the learnt model
        weighs the whole text. A report in which the rules find nothing gets no guessed category.
        The learnt model names only a built-in category whose rule the config extends or leaves
        alone: one replaced (`replace: true`) means what its new keywords say, not what the model
        learnt of it, and keeps, with a category the config added, what the rules found of it."""
        register = bool(_COMPLAINT_REGISTER.search(masked))
        learnt = _learnt() if codes or register else None
        if learnt is None:
            return codes
        probs = dict(zip(learnt.meta["outputs"], softmax(learnt.scores(_learnt_found(learnt, masked))), strict=True))
        named = [code for code in probs if code in self._learnable]
        if not named:
            return codes
        best = max(named, key=probs.__getitem__)
        if probs[best] >= LEARNT_CONFIDENT:
            return [code for code in self.categories if code == best or (code in codes and code not in named)]
        return codes or [best]

    def severity(self, codes: list[str]) -> float:
        return max((self.categories[c].severity for c in codes), default=0.0)

    def assess(self, text: str, negated: bytearray, weight: float) -> tuple[list[str], float]:
        """The complaint keywords of a text and their evidence towards "negative", -1..1: each
        keyword counts `weight`, or `NEWS_SHARE` of that in a text that reads as a report and not
        in a customer's own words. Context words (`_CONTEXT_WORDS`) add none, a denial
        (`nlp.features.denies`, whose words `nlp.features.reported_denial` reads too) or a
        question has none, and fraud words do not count in a text about preventing or warning of
        a fraud (counting a denial or a warning *against* "negative" costs finnsp document F1: its
        news of frauds are police warnings, its denials deny bad news). A clean record outside a
        report (没被乱收过费, 账单也清楚: every complaint word negated, beside a fair appraisal) is
        `-weight`, and so are thanks or praise without sarcasm and without a telling keyword:
        evidence against "negative" (see `nlp.sentiment.decide`). Sarcasm (thanks for an ordeal,
        praise in scare quotes, 佩服佩服) is a complaint: its praise shields nothing, context words
        count, and the sarcasm itself counts as one keyword; so is a grievance in the writer's own
        voice (`_GRIEVANCE`) outside a report and thanks."""
        if _QUESTION.search(text) or denies(text):
            return [], 0.0
        thanks = _THANKS.search(text)
        if _SARCASM.search(text) or ((thanks or _PRAISED.search(text)) and _IRONY.search(text)):
            words = self.matches(text, negated_mask(text, shields=False))
            return words, self.evidence([*words, "sarcasm"], weight)
        words = self.matches(text, negated)
        report = _REPORT.search(text) and not _COMPLAINT_REGISTER.search(text)
        if not report and _FAIR.search(text) and self._denied(text, words):
            # A clean record, not a report (没被乱收过费, 账单也清楚; 没有违约金, 直接预约就行): the
            # complaints it names are the ones it says did not happen.
            return [], -weight
        if _PREVENTION.search(text) and not _VICTIMS.search(text):
            if _GRATITUDE.search(text):
                # Thanks for a fraud or a loss stopped (劝着报了警, 卡被及时冻结, 没有损失): no complaint.
                return [], -weight
            words = [w for w in words if "fraud" not in self._owner[w]]
        telling = [w for w in words if w not in _CONTEXT_WORDS]
        if thanks and _PUT_RIGHT.search(text):
            return [], -weight
        if thanks and (all(w in self._concepts for w in telling)
                       or (len(telling) < 2 and _PRAISE.search(text) and not _BUT.search(text))):
            # Of thanks, a concept names what went well (一分钱没丢): no complaint.
            return [w for w in words if w not in self._concepts], -weight
        if not report and not thanks and _GRIEVANCE.search(text):
            # Not of prices and themes (结果没拿住 … 翻倍): a grievance needs a complaint's words or
            # an institution it is against (说好的涨停呢 is a stock forum's).
            telling = [w for w in words if w not in _MARKET_WORDS]
            telling = [*telling, "grievance"] if telling or PLACEHOLDER in text else []
        return words, self.evidence(telling, weight * NEWS_SHARE if report else weight)

    def _denied(self, text: str, found: list[str]) -> bool:
        """Whether the complaint keywords of `text` (context words too: 没有违约金, 不存在误导) occur
        inside negation scopes, with at most one outside them and no contrast (`_BUT`) to make it a
        complaint (没有被乱扣过一分钱年费, 风险等级都说了，不存在误导): one found without the scopes."""
        if len([w for w in found if w not in _CONTEXT_WORDS]) > 1 or (found and _BUT.search(text)):
            return False
        return bool(set(self.matches(text, bytearray(len(text)))) - set(found))

    def evidence(self, keywords: list[str], weight: float) -> float:
        """How much the complaint keywords found count towards "negative", 0..1: a noisy-OR over
        the distinct keywords, each worth `weight`, so that a post naming several complaints
        (催收 … 暴力催收, 乱收年费 … 投诉) counts more than one that mentions a fee once. Severity
        is for risk, not here: a fee complaint is as negative as a fraud complaint."""
        return 1 - (1 - weight) ** len(keywords)


# Written by `yuqing train categories` (`nlp.train_categories`), beside the sentiment models.
LEARNT_FILE = Path(__file__).with_name("models") / "category.bin"


def learnt_features(masked: str) -> list[str]:
    """What the learnt fallback reads of a normalised, entity-masked text: its character 1- to
    3-grams, each distinct one counting once (the same at training and at run time)."""
    return char_grams(masked)


@cache
def _learnt(path: Path = LEARNT_FILE) -> LinearModel | None:
    """The learnt fallback, loaded on first use (pure Python, `nlp.linear`); None where the file is
    absent: the rules alone then. A damaged file raises ModelFileError naming it."""
    if not path.exists():
        return None
    model = LinearModel.load(path)
    if len(model.meta.get("outputs", ())) != model.outputs:
        raise ModelFileError(f"{path}: outputs and weights do not match (rebuild it with `yuqing train categories`)")
    return model


def _learnt_found(learnt: LinearModel, masked: str) -> Found:
    """`learnt_features(masked)` found in the learnt fallback by number (`gram_keys`, unmarked), all
    at once: looked up as strings, a post's grams took about 180 µs of CPU (cProfile, 1,500 posts)."""
    return Found(_gram_index(learnt).rows(gram_keys(masked, bytearray(len(masked)))), learnt)


@cache
def _gram_index(model: LinearModel) -> KeyIndex:
    """The learnt fallback's features (all character grams) by number."""
    return model.key_index(feature_gram_keys)


def _pinyin_of(words: list[str]) -> dict[str, list[str]]:
    """Each word's toneless pinyin (`pypinyin.lazy_pinyin`), kept in the temporary folder for the
    next process, as jieba keeps its dictionary there: loading pypinyin takes a quarter of a
    second, which `yuqing analyze` would pay on every run. The file is named by the words and by
    the installed pypinyin; one that cannot be read or written is only a cost."""
    spec = importlib.util.find_spec("pypinyin")
    stat = os.stat(spec.origin) if spec and spec.origin else None
    version = f"{stat.st_size}-{stat.st_mtime_ns}" if stat else ""
    digest = hashlib.sha256("\n".join([version, *words]).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"yuqing-pinyin-{digest}.json"
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(kept, dict) and list(kept) == words and all(isinstance(v, list) for v in kept.values()):
            return kept
    except (OSError, ValueError):
        pass
    from pypinyin import lazy_pinyin

    table = {word: lazy_pinyin(word) for word in words}
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        partial.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)  # whole or not at all: another process may be writing it too
    except OSError:
        pass
    return table


_LATIN = re.compile(r"[A-Za-z]+")
_HAN = re.compile(r"^[\u4e00-\u9fff]{2,}$")


def _override(base: Category | None, code: str, spec: Any) -> Category:
    key = f"nlp.categories.{code}"
    if not _CODE.match(str(code)):
        raise ConfigError("nlp", key, "a category code must be lower-case letters, digits and _")
    if not isinstance(spec, Mapping):
        raise ConfigError("nlp", key, "must be a mapping with keywords (and label, severity, replace)")
    unknown = sorted(set(spec) - {"label", "keywords", "concepts", "severity", "replace"})
    if unknown:
        raise ConfigError("nlp", f"{key}.{unknown[0]}",
                          "unknown key (allowed: concepts, keywords, label, replace, severity)")
    keywords = spec.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise ConfigError("nlp", f"{key}.keywords", "must be a list of non-empty strings")
    label = spec.get("label", base.label if base else None)
    if not isinstance(label, str) or not label.strip():
        raise ConfigError("nlp", f"{key}.label", "a new category needs a label (the name shown in reports)")
    severity = spec.get("severity", base.severity if base else DEFAULT_SEVERITY)
    if isinstance(severity, bool) or not isinstance(severity, (int, float)) or not 0 <= severity <= 1:
        raise ConfigError("nlp", f"{key}.severity", f"must be a number from 0 to 1, got {severity!r}")
    replace = spec.get("replace", False)
    if not isinstance(replace, bool):
        raise ConfigError("nlp", f"{key}.replace", f"must be true or false, got {replace!r}")
    kept = () if replace or base is None else base.keywords
    merged = tuple(dict.fromkeys([*kept, *(k.strip() for k in keywords)]))
    concepts = (() if replace or base is None else base.concepts) + _concepts(key, spec.get("concepts", []))
    if not merged and not concepts:
        raise ConfigError("nlp", f"{key}.keywords", "a category needs at least one keyword or concept")
    return Category(code, label.strip(), float(severity), merged, concepts)


def _concepts(key: str, spec: Any) -> tuple[Concept, ...]:
    """Configured concepts: each a list of two or more word lists, named by their first words."""
    def words(lexicon: Any) -> bool:
        return isinstance(lexicon, list) and bool(lexicon) and all(isinstance(w, str) and w.strip() for w in lexicon)

    if not isinstance(spec, list) or not all(isinstance(c, list) and len(c) >= 2 and all(map(words, c)) for c in spec):
        raise ConfigError("nlp", f"{key}.concepts", "must be a list of concepts, each two or more lists of words")
    return tuple(Concept("×".join(lexicon[0].strip() for lexicon in concept),
                         tuple("|".join(re.escape(w.strip()) for w in lexicon) for lexicon in concept))
                 for concept in spec)
