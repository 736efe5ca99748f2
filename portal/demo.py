"""The demo: a Tianjin police bureau with ~200 kiosks and a university with ~500 card terminals, and six
months of their work orders.

``load_demo`` builds everything from seeded ``random.Random`` sources, so every load produces the same
records (the work orders' times relative to the moment it runs). It adds the organisations, contracts,
devices and users in one transaction, then plays the work orders through the lifecycle services
(``portal.workorders.services``) with backdated times, as the desk, the engineers and the requesters would
have logged them: about 150 closed over the dashboard's months, about 25 open now with their clocks at every
stage, and the SLA sweep run where the periodic job would have run it, so breaches are on the timelines.
The audit trail records each record and each step as usual. Every demo user signs in with the password
``demo-<username>``; the returned text lists them (``make run`` prints it).
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import click
from flask import current_app
from sqlalchemy import func, inspect, select

from portal.audit.services import acting_as
from portal.auth.models import User
from portal.devices.models import Device
from portal.extensions import db
from portal.orgs.models import Contract, Organisation, Provider, ServicePoint
from portal.plugins import registry
from portal.sla.engine import RUNNING
from portal.sla.sweep import sweep
from portal.types import utcnow
from portal.workorders import services
from portal.workorders.models import CLOCK_NAMES, OPEN_STATUSES, WorkOrder
from portal.workorders.queries import MTTR_MONTHS, months_until
from portal.workorders.services import NewOrder

SEED = 20261123
PASSWORD_PREFIX = "demo-"
POLICE_STANDARD = "police_kiosk"
CAMPUS_STANDARD = "campus_card"

# Used only when the police plugin is disabled and cannot name its device kinds.
POLICE_KINDS_WITHOUT_PLUGIN = (
    "自助办证机", "自助签注机", "自助拍照机", "交管自助终端", "户政自助终端",
)
POLICE_MODELS = ("JW-K300", "JW-K500", "HX-900S", "ZA-T70", "XB-Q8")
POLICE_PLACES = ("户籍大厅", "办证大厅", "24小时自助服务区", "出入境接待大厅", "值班室外侧")
STATUS_WEIGHTS = {"in_service": 88, "faulty": 4, "under_repair": 3, "spare": 3, "retired": 2}


@dataclass(frozen=True)
class District:
    """A Tianjin district: its sub-bureau, police stations (name, road), service point and distance range."""

    name: str
    abbrev: str
    point: str
    km: tuple[float, float]
    stations: tuple[tuple[str, str], ...]
    weight: int = 4


# Kiosks of the mountain area are more than 100 km from the nearest service point (PK-5.1 "per contract").
POLICE_DISTRICTS = (
    District("和平区", "HP", "CITY", (1, 8), (("南营门派出所", "南京路"), ("劝业场派出所", "滨江道"),
             ("小白楼派出所", "曲阜道"), ("五大道派出所", "成都道")), 6),
    District("河东区", "HD", "CITY", (4, 14), (("大王庄派出所", "十一经路"), ("向阳楼派出所", "津塘路"),
             ("鲁山道派出所", "鲁山道")), 5),
    District("河西区", "HX", "CITY", (3, 12), (("友谊路派出所", "友谊路"), ("越秀路派出所", "越秀路"),
             ("马场派出所", "马场道"), ("尖山派出所", "黑牛城道")), 5),
    District("南开区", "NK", "CITY", (1, 10), (("向阳路派出所", "鞍山西道"), ("万兴派出所", "南丰路"),
             ("学府派出所", "卫津路"), ("长虹派出所", "红旗路")), 5),
    District("河北区", "HB", "CITY", (4, 12), (("光复道派出所", "光复道"), ("望海楼派出所", "狮子林大街"),
             ("铁东路派出所", "铁东路")), 5),
    District("红桥区", "HQ", "CITY", (5, 13), (("西沽派出所", "西沽南路"), ("丁字沽派出所", "丁字沽一号路"),
             ("芥园派出所", "芥园道")), 4),
    District("东丽区", "DL", "CITY", (12, 30), (("张贵庄派出所", "津塘公路"), ("万新派出所", "成林道"),
             ("华明派出所", "华明大道")), 4),
    District("西青区", "XQ", "CITY", (12, 32), (("杨柳青派出所", "柳口路"), ("中北派出所", "中北大道"),
             ("精武派出所", "精武路")), 4),
    District("津南区", "JN", "CITY", (15, 35), (("咸水沽派出所", "津沽路"), ("双港派出所", "双港路"),
             ("八里台派出所", "八里台路")), 4),
    District("北辰区", "BC", "CITY", (10, 28), (("果园新村派出所", "京津公路"), ("天穆派出所", "天穆路"),
             ("北仓派出所", "北仓道")), 4),
    District("滨海新区", "BH", "BINHAI", (2, 38), (("新港派出所", "新港路"), ("大沽派出所", "解放路"),
             ("开发区第一派出所", "第三大街"), ("汉沽派出所", "新开路"), ("大港派出所", "世纪大道")), 5),
    District("宁河区", "NH", "BINHAI", (35, 58), (("芦台派出所", "光明路"), ("七里海派出所", "津芦公路")), 3),
    District("武清区", "WQ", "WUQING", (2, 30), (("杨村派出所", "泉州路"), ("下朱庄派出所", "雍阳西道"),
             ("崔黄口派出所", "崔黄口大街")), 4),
    District("宝坻区", "BD", "WUQING", (38, 62), (("宝平派出所", "南关大街"), ("海滨派出所", "广阳路"),
             ("大口屯派出所", "大口屯大街")), 3),
    District("静海区", "JH", "JINGHAI", (2, 36), (("静海镇派出所", "胜利大街"),
             ("团泊派出所", "团泊大道")), 3),
    District("蓟州区", "JZ", "WUQING", (70, 96), (("渔阳派出所", "人民西大街"),
             ("文昌派出所", "渔阳北路")), 3),
    District("蓟州区", "JZ", "WUQING", (102, 128), (("下营派出所", "环秀街"),
             ("罗庄子派出所", "罗庄子大街")), 3),
)

POLICE_POINTS = {
    "CITY": ("JA-SP-CITY", "津安运维市区服务网点", "天津市南开区鞍山西道192号", "022-27401188"),
    "BINHAI": ("JA-SP-BINHAI", "津安运维滨海新区服务网点", "天津市滨海新区第二大街57号", "022-66288310"),
    "WUQING": ("JA-SP-WUQING", "津安运维武清服务网点", "天津市武清区雍阳东道18号", "022-29341576"),
    "JINGHAI": ("JA-SP-JINGHAI", "津安运维静海服务网点", "天津市静海区胜利南路106号", "022-68612039"),
}
POLICE_ENGINEERS = {"CITY": "张伟", "BINHAI": "李强", "WUQING": "王磊", "JINGHAI": "刘洋"}

CAMPUS_ADDRESS = "湖北省武汉市洪山区珞喻路152号华中师范大学"
CAMPUS_SITES = {"桂子山": CAMPUS_ADDRESS + "桂子山校区", "南湖": CAMPUS_ADDRESS + "南湖校区"}
CAMPUS_POINTS = {
    "桂子山": ("CT-SP-GZS", "楚天一卡通桂子山校区值班室", CAMPUS_SITES["桂子山"] + "信息化办公室一楼",
            "027-67868100"),
    "南湖": ("CT-SP-NH", "楚天一卡通南湖校区值班室", CAMPUS_SITES["南湖"] + "综合楼一楼", "027-67861203"),
}
CAMPUS_ENGINEERS = {"桂子山": "陈晨", "南湖": "杨帆"}
CAMPUS_KINDS = {  # kind: (code prefix, model)
    "POS收费机": ("POS", "CT-POS-S6"),
    "圈存机": ("QC", "CT-QC-T22"),
    "业务机": ("YW", "CT-YW-B10"),
    "网络设备": ("NET", "H3C-S5130"),
}


def _buildings() -> list[tuple[str, str, dict[str, int]]]:
    """(campus, building, {kind: count}) for every building with card terminals: about 500 in all."""
    canteens = [("桂子山", "桂香园餐厅", 60), ("桂子山", "博雅园餐厅", 50), ("桂子山", "学子餐厅", 55),
                ("桂子山", "东区一食堂", 40), ("桂子山", "东区二食堂", 35), ("南湖", "南湖第一食堂", 45),
                ("南湖", "南湖第二食堂", 35)]
    buildings = [(campus, name, {"POS收费机": pos, "圈存机": 2, "网络设备": 3})
                 for campus, name, pos in canteens]
    buildings += [
        ("桂子山", "图书馆", {"圈存机": 6, "业务机": 2, "网络设备": 4}),
        ("南湖", "南湖图书馆", {"圈存机": 3, "网络设备": 2}),
        ("桂子山", "一卡通服务中心", {"业务机": 6, "圈存机": 2, "网络设备": 2}),
        ("桂子山", "行政楼", {"业务机": 2}),
        ("桂子山", "校医院", {"POS收费机": 4, "业务机": 1}),
        ("桂子山", "桂子山超市", {"POS收费机": 8}),
        ("桂子山", "佑铭体育馆", {"POS收费机": 3}),
        ("桂子山", "网络中心机房", {"网络设备": 10}),
    ]
    dorms = [("桂子山", "东区学生宿舍", 16), ("桂子山", "西区学生宿舍", 10), ("桂子山", "元宝山学生宿舍", 8),
             ("南湖", "南湖学生宿舍", 12)]
    buildings += [(campus, f"{area}{n}栋", {"圈存机": 1, "网络设备": 1})
                  for campus, area, count in dorms for n in range(1, count + 1)]
    return buildings


@dataclass(frozen=True)
class DemoUser:
    """A demo sign-in: username, role, Chinese display name and employer key (provider or organisation)."""

    username: str
    role: str
    name: str
    employer: str | None = None

    @property
    def password(self) -> str:
        return PASSWORD_PREFIX + self.username


DEMO_USERS = (
    DemoUser("admin", "admin", "马骏"),
    DemoUser("jinan_clerk", "clerk", "赵敏", "provider:jinan"),
    *(DemoUser(f"jinan_eng{n}", "engineer", name, "provider:jinan")
      for n, name in enumerate(POLICE_ENGINEERS.values(), start=1)),
    DemoUser("police_requester", "requester", "孙志刚", "org:police"),
    DemoUser("police_auditor", "auditor", "吴静", "org:police"),
    DemoUser("chutian_clerk", "clerk", "周婷", "provider:chutian"),
    *(DemoUser(f"chutian_eng{n}", "engineer", name, "provider:chutian")
      for n, name in enumerate(CAMPUS_ENGINEERS.values(), start=1)),
    DemoUser("ccnu_requester", "requester", "郑海燕", "org:campus"),
    DemoUser("ccnu_auditor", "auditor", "黄磊", "org:campus"),
)


def _organisations() -> dict[str, Organisation]:
    return {
        "police": Organisation(code="TJGA", name="天津市公安局", standard=POLICE_STANDARD,
                               contact_name="孙志刚", contact_phone="022-23241110",
                               address="天津市和平区唐山道26号"),
        "campus": Organisation(code="CCNU-IT", name="华中师范大学信息化办公室", standard=CAMPUS_STANDARD,
                               contact_name="郑海燕", contact_phone="027-67868000", address=CAMPUS_ADDRESS),
    }


def _providers() -> dict[str, Provider]:
    return {
        "jinan": Provider(code="JINAN-OM", name="天津津安信息技术服务有限公司",
                          licence_number="91120104MA05T3K21X", contact_name="赵敏",
                          contact_phone="022-27401188", address=POLICE_POINTS["CITY"][2]),
        "chutian": Provider(code="CHUTIAN-YKT", name="武汉楚天一卡通技术服务有限公司",
                            licence_number="91420111MA4K2QW86P", contact_name="周婷",
                            contact_phone="027-87654321", address="湖北省武汉市洪山区珞喻路129号"),
    }


def _contract_terms(today: date) -> dict[str, tuple[date, date]]:
    """Contract periods that cover the demo's six months of orders whatever day it is loaded: the police
    contract runs three calendar years, the campus one two academic years (from 1 September)."""
    begun = today - timedelta(days=240)
    police = date(begun.year, 1, 1)
    campus = date(begun.year if begun.month >= 9 else begun.year - 1, 9, 1)
    return {"police": (police, date(police.year + 2, 12, 31)),
            "campus": (campus, date(campus.year + 2, 8, 31))}


def _contracts(orgs, providers, today: date) -> list[Contract]:
    terms = _contract_terms(today)
    (police_start, police_end), (campus_start, campus_end) = terms["police"], terms["campus"]
    return [
        Contract(number=f"TJGA-YW-{police_start.year}-001", organisation=orgs["police"],
                 provider=providers["jinan"], standard=POLICE_STANDARD, starts_on=police_start,
                 ends_on=police_end, far_arrival_hours=Decimal("6"), remote_response_hours=Decimal("0.5"),
                 notes="警务自助服务终端运维，7×24小时；距服务网点100公里及以上的终端6小时内到达现场。"),
        Contract(number=f"CCNU-YKT-{campus_start.year}-07", organisation=orgs["campus"],
                 provider=providers["chutian"], standard=CAMPUS_STANDARD, starts_on=campus_start,
                 ends_on=campus_end, notes="校园一卡通基础运维外包服务。"),
    ]


def _users(orgs, providers) -> list[User]:
    employers = {**{f"org:{key}": org for key, org in orgs.items()},
                 **{f"provider:{key}": provider for key, provider in providers.items()}}
    users = []
    for spec in DEMO_USERS:
        employer = employers.get(spec.employer)
        users.append(User(username=spec.username, role=spec.role, display_name=spec.name,
                          organisation=employer if isinstance(employer, Organisation) else None,
                          provider=employer if isinstance(employer, Provider) else None))
    return users


def _set_passwords(users: list[User]) -> None:
    """Give each demo user ``demo-<username>``, hashed on a few threads: scrypt is most of the load time."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda user: user.set_password(PASSWORD_PREFIX + user.username), users))


def _police_kinds() -> tuple[str, ...]:
    """The device kinds the police standard names (its plugin's data)."""
    standard = registry().standard(POLICE_STANDARD)
    return tuple(standard.device_kinds) if standard and standard.device_kinds else POLICE_KINDS_WITHOUT_PLUGIN


def _status(rng: random.Random) -> str:
    return rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]


def _installed_on(rng: random.Random, first_year: int) -> date:
    start = date(first_year, 1, 1)
    return start + timedelta(days=rng.randrange((date(2025, 12, 31) - start).days))


def _km(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(round(rng.uniform(low, high), 1)))


def _kiosk_sites(total: int) -> list[tuple[District, str, str]]:
    """(district, station, road) for each of ``total`` kiosks, shared out by district weight."""
    stations = [(district, station, road)
                for district in POLICE_DISTRICTS for station, road in district.stations]
    weight_sum = sum(district.weight for district, _, _ in stations)
    shares = [total * district.weight / weight_sum for district, _, _ in stations]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[:total - sum(counts)]:
        counts[i] += 1
    return [site for site, count in zip(stations, counts, strict=True) for _ in range(count)]


def _police_devices(rng, org, points, engineers) -> list[Device]:
    """200 kiosks spread over the police stations, more of them in the city districts."""
    kinds = _police_kinds()
    numbers: dict[str, int] = {}
    devices = []
    for index, (district, station, road) in enumerate(_kiosk_sites(200)):
        numbers[district.abbrev] = numbers.get(district.abbrev, 0) + 1
        model = rng.choice(POLICE_MODELS)
        devices.append(Device(
            code=f"JW-{district.abbrev}-{numbers[district.abbrev]:03d}", organisation=org,
            service_point=points[district.point], maintainer=engineers[district.point],
            model=model, serial_number=f"{model.replace('-', '')}{index + 1:06d}", kind=rng.choice(kinds),
            owning_unit=f"{district.name.removesuffix('区').removesuffix('新')}分局{station}",
            address=(f"天津市{district.name}{road}{rng.randint(1, 300)}号 "
                     f"{station}{rng.choice(POLICE_PLACES)}"),
            distance_km=_km(rng, *district.km), status=_status(rng), installed_on=_installed_on(rng, 2019),
        ))
    return devices


def _campus_slots() -> list[tuple[str, str, str]]:
    """(campus, building, kind) for every card terminal, building by building."""
    return [(campus, building, kind)
            for campus, building, counts in _buildings()
            for kind, count in counts.items() for _ in range(count)]


def _campus_devices(rng, org, points, engineers) -> list[Device]:
    """The card terminals of every building, numbered per kind."""
    numbers = dict.fromkeys(CAMPUS_KINDS, 0)
    devices = []
    for campus, building, kind in _campus_slots():
        numbers[kind] += 1
        prefix, model = CAMPUS_KINDS[kind]
        devices.append(Device(
            code=f"YKT-{prefix}-{numbers[kind]:04d}", organisation=org, service_point=points[campus],
            maintainer=engineers[campus], model=model, kind=kind,
            serial_number=f"{model.replace('-', '')}{numbers[kind]:05d}",
            owning_unit=f"华中师范大学{building}", address=CAMPUS_SITES[campus] + building,
            distance_km=_km(rng, 0.1, 2.5), status=_status(rng), installed_on=_installed_on(rng, 2017),
        ))
    return devices


def _service_points(table, org, provider) -> dict[str, ServicePoint]:
    return {key: ServicePoint(code=code, name=name, address=address, phone=phone, organisation=org,
                              provider=provider)
            for key, (code, name, address, phone) in table.items()}


def build_demo(rng: random.Random, today: date) -> dict[str, list]:
    """Every demo record but the work orders, unsaved and users without passwords yet, grouped by kind."""
    orgs, providers = _organisations(), _providers()
    users = _users(orgs, providers)
    by_name = {user.display_name: user for user in users}
    police_points = _service_points(POLICE_POINTS, orgs["police"], providers["jinan"])
    campus_points = _service_points(CAMPUS_POINTS, orgs["campus"], providers["chutian"])
    police_engineers = {key: by_name[name] for key, name in POLICE_ENGINEERS.items()}
    campus_engineers = {key: by_name[name] for key, name in CAMPUS_ENGINEERS.items()}
    return {
        "organisations": list(orgs.values()),
        "providers": list(providers.values()),
        "contracts": _contracts(orgs, providers, today),
        "service_points": [*police_points.values(), *campus_points.values()],
        "users": users,
        "police_devices": _police_devices(rng, orgs["police"], police_points, police_engineers),
        "campus_devices": _campus_devices(rng, orgs["campus"], campus_points, campus_engineers),
    }


# ----------------------------------------------------------------------------------------------------------
# Work orders: what people report, and what fixed it
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A fault or service request as people report it, what fixed it, and what it touches.

    ``severity`` is the desk's choice (police: Table 2 has no counting rule; campus: only when no count
    is given). Campus faults give ``terminals``/``cardholders`` ranges, so that CC-2 classifies them, and
    ``cause`` for a fault outside the contract. ``description`` may name the ``{place}`` and the count ``{n}``.
    """

    summary: str
    description: str
    fix: str
    severity: str | None = None
    kinds: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    remote: bool = False
    service_type: str = "repair"
    terminals: tuple[int, int] | None = None
    cardholders: tuple[int, int] | None = None
    cause: str | None = None
    on_device: bool = True
    factory: str = ""
    alarm: str = "TERMINAL-FAULT"
    weight: int = 1


POLICE_FAULTS = (
    Fault("终端无法开机", "{place}自助终端通电后屏幕无显示，电源指示灯不亮，群众无法办理业务。",
          "电源模块损坏，更换电源模块后开机自检正常，业务测试通过。", "urgent", alarm="DEV-OFFLINE", weight=6),
    Fault("触摸屏无响应，终端无法操作", "触摸屏点击无反应，重启后仍无法操作，终端已暂停对外服务。",
          "触摸屏控制板损坏，更换后重新校准，操作正常。", "urgent", alarm="TOUCH-FAIL", weight=4),
    Fault("系统蓝屏，反复重启", "终端进入系统后蓝屏并自动重启，无法进入业务界面。",
          "硬盘出现坏道，更换硬盘并恢复系统镜像，业务联调正常。", "urgent", alarm="OS-CRASH", weight=4),
    Fault("证件打印模块故障，无法出证", "办理业务时证件打印模块报错，卡证卡在出证通道内，群众无法取证。",
          "清理出证通道，更换打印头，试打印证件正常。", "urgent",
          kinds=("自助办证机", "自助签注机", "出入境自助终端"), alarm="CARD-PRINTER", weight=4),
    Fault("终端网络中断，无法连接业务系统", "终端提示“网络连接失败”，无法访问公安业务系统，所有业务暂停。",
          "接入交换机端口故障，更换端口并重新配置，网络恢复。", "urgent", alarm="NET-DOWN", weight=5),
    Fault("业务客户端无法登录", "终端业务客户端提示“证书已过期”，无法登录办理业务。",
          "远程更新客户端证书，登录和业务办理正常。", "urgent", remote=True, alarm="CLIENT-CERT", weight=3),
    Fault("身份证读卡器不读卡", "群众放置身份证后终端提示“读卡失败”，多张证件均无法读取，需到人工窗口办理。",
          "身份证阅读器模块损坏，更换后读卡测试正常。", "medium", alarm="IDR-READ-FAIL", weight=8),
    Fault("打印机卡纸", "凭条打印机频繁卡纸，业务回执无法打印。",
          "清理打印通道内的纸屑，更换搓纸轮，连续打印测试正常。", "medium", alarm="PRN-JAM", weight=8),
    Fault("屏幕花屏", "显示屏出现彩色条纹并闪烁，部分区域看不清内容。",
          "屏幕排线老化松动，更换排线后显示正常。", "medium", alarm="SCREEN-FAULT", weight=6),
    Fault("拍照模块无法对焦", "拍照时画面模糊，自动对焦失败，照片质量检测不合格。",
          "更换摄像头模组并校准补光灯，拍照质量检测合格。", "medium",
          kinds=("自助拍照机", "自助办证机", "出入境自助终端"), alarm="CAMERA-FOCUS", weight=5),
    Fault("指纹仪采集失败", "指纹采集多次提示“采集失败”，群众需到人工窗口办理。",
          "指纹采集窗口磨损，更换采集窗口并重新标定，采集正常。", "medium", alarm="FP-FAIL", weight=5),
    Fault("缴款模块卡币", "群众投入纸币后缴款模块卡币，交易未完成。",
          "取出卡住的纸币并与民警清点交接，清洁纸币识别器，缴款测试正常。", "medium",
          kinds=("自助缴款机",), alarm="CASH-JAM", weight=4),
    Fault("扫码器无法识别二维码", "群众出示电子证照二维码后扫码器无反应。",
          "扫码器固件异常，重新刷写固件后识别正常。", "medium", alarm="SCANNER-FAIL", weight=5),
    Fault("密码键盘部分按键失灵", "密码键盘“5”“8”键按下无反应，群众无法输入密码。",
          "更换密码键盘，逐键测试正常。", "medium", alarm="PINPAD-FAIL", weight=4),
    Fault("顶部灯箱亮度变暗", "终端顶部灯箱亮度明显变暗，夜间不易辨认。",
          "更换LED灯条，亮度恢复正常。", "minor", alarm="LAMP-DIM", weight=6),
    Fault("语音提示音量偏小", "语音提示音量偏小，大厅嘈杂时群众听不清。",
          "远程调高系统音量，现场民警确认可以听清。", "minor", remote=True, weight=4),
    Fault("系统时间不准确", "回执上打印的时间比实际时间慢约8分钟。",
          "远程校正系统时间并开启时间同步服务。", "minor", remote=True, alarm="CLOCK-DRIFT", weight=4),
    Fault("待机宣传画面未更新", "待机界面仍显示上一季度的宣传内容。",
          "远程推送最新宣传节目单，画面已更新。", "minor", remote=True, weight=4),
    Fault("机柜外壳划伤、贴膜起翘", "终端机柜外壳有明显划痕，屏幕贴膜边缘起翘。",
          "更换屏幕贴膜，修补外壳划痕。", "minor", weight=4),
    Fault("季度巡检保养", "按运维合同开展季度巡检：清洁、紧固，检查各模块运行状态。",
          "完成巡检保养，各模块运行正常，已填写巡检记录。", "minor",
          service_type="preventive_maintenance", weight=3),
    Fault("业务客户端版本升级", "按市局通知将自助业务客户端升级到新版本。",
          "远程推送升级包，逐项验证业务流程正常。", "minor", remote=True, service_type="upgrade", weight=2),
    Fault("终端移机", "{place}大厅改造，终端需移至新位置并重新布线。",
          "完成移机、布线和联调，终端恢复使用。", "medium", service_type="relocation", weight=1),
    Fault("新增终端安装调试", "{place}新增自助终端一台，需安装并接入业务网络。",
          "完成安装、入网和业务联调，终端投入使用。", "minor", service_type="installation", weight=1),
    Fault("新入职辅警操作培训", "为{place}新入职辅警讲解终端日常操作和常见问题处理。",
          "完成现场培训：开关机、加纸、常见报错处理。", "minor", service_type="training", weight=1),
    Fault("办证高峰现场保障", "{place}假期办证高峰，申请工程师驻场保障。",
          "驻场保障结束，期间处理卡纸两次，终端运行正常。", "medium",
          service_type="emergency_support", weight=1),
)

CANTEENS = ("餐厅", "食堂")
CAMPUS_FAULTS = (
    Fault("食堂POS机无法上传数据", "{place}POS机交易数据无法上传，“未上传笔数”持续增加。",
          "POS机网络参数被误改，重新配置并补传交易数据，与后台核对一致。",
          kinds=("POS收费机",), places=CANTEENS, terminals=(1, 1), alarm="POS-UPLOAD", weight=9),
    Fault("POS机读卡失败", "{place}POS机刷卡无反应，学生只能改用扫码支付。",
          "射频读卡模块损坏，更换后刷卡测试正常。", kinds=("POS收费机",), terminals=(1, 1),
          factory="读卡模块损坏，寄回厂家维修，窗口暂用备用POS机。", alarm="POS-READER", weight=8),
    Fault("POS机屏幕不亮", "{place}一台POS机屏幕不亮，无法显示消费金额。",
          "显示屏背光板损坏，更换后显示正常。", kinds=("POS收费机",), terminals=(1, 1),
          factory="显示屏组件损坏，寄回厂家更换。", alarm="POS-SCREEN", weight=6),
    Fault("圈存机读卡器故障", "{place}圈存机无法读取校园卡，学生无法圈存。",
          "更换圈存机读卡器，圈存测试正常。", kinds=("圈存机",), terminals=(1, 1),
          factory="读卡器主板损坏，返厂维修。", alarm="QC-READER", weight=7),
    Fault("圈存机吞卡", "学生在{place}圈存时校园卡被吞入机内，无法退出。",
          "拆机取出卡片交还学生，调整卡槽弹片，测试进退卡正常。", kinds=("圈存机",), terminals=(1, 1),
          weight=5),
    Fault("业务机无法补办卡", "一卡通服务中心业务机制卡时报错，学生无法补办校园卡。",
          "制卡机色带卡滞，更换色带并重启制卡服务，补卡正常。", kinds=("业务机",), terminals=(1, 1),
          factory="制卡机打印头损坏，返厂维修，业务暂用另一台业务机办理。", weight=5),
    Fault("宿舍圈存机网络不通", "{place}圈存机提示“网络连接失败”。",
          "宿舍楼交换机端口故障，更换端口后网络恢复。", kinds=("圈存机",), places=("宿舍",),
          terminals=(1, 1), alarm="QC-OFFLINE", weight=6),
    Fault("校园卡消费扣款成功但余额未变", "学生反映在{place}消费时扣款成功，但校园卡余额没有变化，账务不一致。",
          "核对POS流水与后台账务，补录交易并调平账务，已告知学生。", kinds=("POS收费机",), places=CANTEENS,
          cardholders=(1, 1), service_type="abnormal_account", weight=5),
    Fault("食堂多台POS机脱机", "{place}{n}台POS机同时脱机，窗口只能扫码收款。",
          "楼层接入交换机故障，更换交换机后POS机恢复联网，脱机交易已上传。", kinds=("网络设备",),
          places=CANTEENS, terminals=(6, 10), alarm="SWITCH-DOWN", weight=10),
    Fault("微信充值未到账", "约{n}名学生通过微信充值后校园卡余额未增加。",
          "充值对账文件延迟生成，手工对账补入，已逐一通知学生。", cardholders=(20, 90),
          service_type="abnormal_account", on_device=False, weight=8),
    Fault("餐厅交换机故障，整层POS机离线", "{place}汇聚交换机故障，约{n}台POS机离线。",
          "汇聚交换机电源模块损坏，更换后POS机全部恢复联网。", kinds=("网络设备",), places=CANTEENS,
          terminals=(11, 40), alarm="SWITCH-DOWN", weight=7),
    Fault("批量补助未到账", "学生工作部下发的困难补助有{n}名学生未到账。",
          "补助批次文件格式错误，重新导入并核对到账情况。", cardholders=(120, 600),
          service_type="abnormal_account", on_device=False, weight=5),
    Fault("多个餐厅POS机同时脱机", "午餐高峰期多个餐厅的POS机同时脱机，约{n}台终端无法刷卡消费。",
          "一卡通前置服务进程异常，重启服务并调整数据库连接池，终端陆续恢复。", terminals=(50, 120),
          on_device=False, weight=3),
    Fault("大批校园卡被误列黑名单", "约{n}名学生刷卡提示“黑名单卡”，无法消费和进出图书馆。",
          "黑名单下发程序异常，修正名单后重新下发，刷卡恢复正常。", cardholders=(1000, 2500),
          service_type="abnormal_account", on_device=False, weight=2),
    Fault("圈存机无法连接银行前置", "全校圈存机提示“连接银行前置失败”，学生无法从银行卡圈存。",
          "银行前置机升级后证书变更，已协调银行恢复连接，圈存测试正常。", terminals=(30, 40), cause="bank",
          on_device=False, weight=0),
    Fault("学期初POS机巡检保养", "开学前对{place}POS机进行巡检：清洁读卡区，检查网络和时钟。",
          "完成巡检，各POS机运行正常，已填写巡检记录。", "general", kinds=("POS收费机",), places=CANTEENS,
          service_type="preventive_maintenance", weight=2),
    Fault("圈存机程序升级", "按银行要求升级{place}圈存机程序。",
          "完成程序升级并测试圈存、查询功能正常。", "general", kinds=("圈存机",), service_type="upgrade",
          weight=2),
)
FAULTS = {"police": POLICE_FAULTS, "campus": CAMPUS_FAULTS}

RESPOND_NOTES = ("已电话联系报修单位，约定到场时间。", "已与现场民警沟通故障现象，工程师出发前往现场。")
REMOTE_RESPOND_NOTE = "远程登录终端开始诊断。"
FOLLOW_UP_NOTES = {
    "police": ("电话回访报修单位，终端运行正常，对服务满意。", "回访现场民警，业务办理正常，无其他意见。"),
    "campus": ("已向报修人反馈处理结果，设备使用正常，故障日志已填写。",
               "电话回访报修人，确认恢复正常，已写入故障日志。"),
}
PAUSE_REASONS = {
    "police": ("派出所大厅临时封闭改造，报修单位要求暂停维修。", "办证高峰时段，派出所要求错峰维修。",
               "等待报修单位确认维修方案。"),
    "campus": ("食堂营业高峰，暂停维修，闭餐后继续处理。", "宿舍楼门禁时间已到，次日上午继续。",
               "等待报修人确认现场时间。"),
}
EXTENSION_REASONS = {
    "far": "蓟州山区终端，距服务网点百公里以上，山路绕行，经报修单位同意延长时限。",
    "weather": "暴雨导致道路积水，无法按时到场，经报修单位同意延长时限。",
}
SPARE_NOTE = "短时间内无法修复，调配备用终端顶替使用，保障群众正常办事。"
FACTORY_BACK_NOTE = "厂家维修完成，设备已寄回并重新安装。"
STEP_NOTES = {"arrive": "工程师到达现场，开始检修。", "resume": "报修单位确认，继续维修。",
              "close": "工单资料归档。", "spare_provided": SPARE_NOTE, "factory_back": FACTORY_BACK_NOTE}
DESK_STEPS = ("accept", "assign", "severity", "extend", "follow_up", "close")


def lowered(fault: Fault, row) -> dict:
    """The desk's change of a monitoring alarm's default severity once it has looked at the fault."""
    return {"severity": row.id, "reason": f"核实告警：{fault.summary}，终端其余功能可用，按表2调整为“{row.term}”。"}

# ----------------------------------------------------------------------------------------------------------
# Work orders: how many, through which channels, with which side steps
# ----------------------------------------------------------------------------------------------------------

ORG_STANDARDS = {"police": POLICE_STANDARD, "campus": CAMPUS_STANDARD}
# Closed orders per severity: every month of the dashboard gets its share of each (see OrderPlanner.spread).
CLOSED_SEVERITIES = {
    "police": {"urgent": 20, "medium": 34, "minor": 24},
    "campus": {"general": 42, "larger": 15, "major": 9, "severe": 5, "special": 1},
}
# How many of an organisation's closed orders take each side path; the others run straight through.
CLOSED_FEATURES = {
    "police": {"far": 3, "weather": 1, "pause": 3, "spare": 4},
    "campus": {"factory": 2, "factory_late": 1, "pause": 3, "special": 1},
}
LATE = {"response": 0.07, "arrival": 0.07, "repair": 0.1}
CHANNEL_WEIGHTS = {
    "police": {"phone": 34, "web": 12, "qr": 12, "monitoring": 15, "email": 6, "app": 6, "system": 9, "sms": 6},
    "campus": {"phone": 40, "web": 15, "monitoring": 14, "system": 10, "qr": 8, "app": 7, "email": 6},
}
# Who logs a report that comes in by a channel: the provider's desk, the requester's staff, or nobody (a
# member of the public scanning the QR code, a machine).
REPORTER = {"phone": "clerk", "email": "clerk", "sms": "clerk", "web": "requester", "app": "requester",
            "qr": None, "monitoring": None, "system": None}
BUSY_HOURS = (8, 9, 9, 10, 10, 10, 11, 11, 12, 13, 14, 14, 15, 15, 16, 16, 17, 18, 19, 20, 21)


@dataclass(frozen=True)
class RecentCase:
    """An order of the last hours or days, scripted so that the desk shows every state of the clocks:
    the fault (by summary), minutes since the report, channel and (step, minutes after the report)."""

    org: str
    summary: str
    reported_ago: int
    channel: str
    steps: tuple[tuple[str, int], ...] = ()
    far: bool = False


RECENT_CASES = (
    # Reported by the requester or the public, waiting for the desk to accept them.
    RecentCase("police", "身份证读卡器不读卡", 12, "web"),
    RecentCase("police", "打印机卡纸", 25, "qr"),
    RecentCase("police", "顶部灯箱亮度变暗", 41, "app"),
    RecentCase("campus", "业务机无法补办卡", 15, "web"),
    # Clocks running: response, arrival and repair at various shares of their time, some past 80%.
    RecentCase("police", "终端无法开机", 10, "phone", (("assign", 2),)),
    RecentCase("police", "屏幕花屏", 26, "phone", (("assign", 3),)),
    RecentCase("police", "扫码器无法识别二维码", 78, "phone", (("assign", 2), ("respond", 14))),
    RecentCase("police", "触摸屏无响应，终端无法操作", 105, "monitoring", (("assign", 3), ("respond", 10))),
    RecentCase("police", "拍照模块无法对焦", 210, "phone", (("assign", 2), ("respond", 12), ("arrive", 75))),
    RecentCase("police", "系统时间不准确", 35, "system", (("assign", 2), ("respond", 9))),
    RecentCase("police", "季度巡检保养", 150, "phone", (("assign", 5), ("respond", 20), ("arrive", 100))),
    RecentCase("police", "打印机卡纸", 30, "monitoring", (("severity", 4), ("assign", 5), ("respond", 12))),
    RecentCase("police", "终端网络中断，无法连接业务系统", 200, "phone",
               (("assign", 3), ("respond", 15), ("extend", 20)), far=True),
    RecentCase("campus", "食堂POS机无法上传数据", 20, "system", (("assign", 3),)),
    RecentCase("campus", "食堂多台POS机脱机", 26, "phone", (("assign", 2),)),
    RecentCase("campus", "圈存机吞卡", 660, "phone", (("assign", 2), ("arrive", 40))),
    RecentCase("campus", "批量补助未到账", 1800, "web", (("accept", 8), ("assign", 9), ("arrive", 25))),
    RecentCase("campus", "多个餐厅POS机同时脱机", 130, "monitoring", (("assign", 2), ("arrive", 18))),
    RecentCase("campus", "业务机无法补办卡", 5040, "phone", (("assign", 2), ("arrive", 45), ("factory_out", 180))),
    # Past a deadline: response not given, repair overdue (one with a spare unit provided, one without).
    RecentCase("police", "指纹仪采集失败", 58, "email", (("assign", 4),)),
    RecentCase("police", "系统蓝屏，反复重启", 190, "phone", (("assign", 2), ("respond", 15), ("arrive", 95))),
    RecentCase("police", "证件打印模块故障，无法出证", 260, "web",
               (("accept", 6), ("assign", 7), ("respond", 18), ("arrive", 70), ("spare_provided", 122))),
    RecentCase("campus", "餐厅交换机故障，整层POS机离线", 45, "phone", (("assign", 3),)),
    RecentCase("campus", "POS机读卡失败", 840, "phone", (("assign", 3), ("arrive", 50))),
    # Paused, with the reason.
    RecentCase("police", "密码键盘部分按键失灵", 1500, "phone",
               (("assign", 2), ("respond", 10), ("arrive", 80), ("pause", 110))),
    # Repaired, waiting for the follow-up visit or for closing.
    RecentCase("police", "屏幕花屏", 1560, "phone",
               (("assign", 2), ("respond", 12), ("arrive", 70), ("resolve", 200))),
    RecentCase("police", "顶部灯箱亮度变暗", 3000, "web", (("accept", 15), ("assign", 16), ("respond", 30),
                                                      ("arrive", 125), ("resolve", 300), ("follow_up", 1500))),
    RecentCase("campus", "圈存机读卡器故障", 600, "phone", (("assign", 2), ("arrive", 35), ("resolve", 240))),
    RecentCase("campus", "校园卡消费扣款成功但余额未变", 2900, "web",
               (("accept", 5), ("assign", 6), ("arrive", 50), ("resolve", 180), ("follow_up", 1440))),
)


@dataclass
class Staff:
    """Who works an organisation's orders: the provider's desk clerk and engineers, the requester."""

    clerk: User
    engineers: list[User]
    requester: User


def reporter_of(staff: Staff, channel: str) -> User | None:
    """Who logs a report that came in by this channel (None: the public or a machine)."""
    role = REPORTER[channel]
    return getattr(staff, role) if role else None


@dataclass
class PlannedStep:
    """A step of a planned order, at minutes after its report, with the values the service takes."""

    name: str
    minute: float
    values: dict = field(default_factory=dict)


@dataclass
class OrderPlan:
    """One demo work order: what is reported, by whom, when, and each step after."""

    key: str
    organisation: Organisation
    fault: Fault
    device: Device | None
    engineer: User
    channel: str
    severity: str | None
    terminals: int | None
    cardholders: int | None
    reported_at: datetime
    steps: list[PlannedStep]

    def description(self) -> str:
        """The fault's description with its place and count filled in."""
        place = ""
        if self.device is not None:
            place = self.device.owning_unit.removeprefix("华中师范大学").split("分局")[-1]
        count = self.terminals if self.terminals and self.terminals > 1 else self.cardholders
        return self.fault.description.format(place=place, n=count or "")


class Timeline:
    """The steps of one planned order, each at least a minute after the one before."""

    def __init__(self, rng: random.Random, key: str, fault: Fault):
        self.rng, self.key, self.fault = rng, key, fault
        self.steps: list[PlannedStep] = []
        self.last = 0.0

    def add(self, name: str, minute: float, **values) -> float:
        """Add a step (with its usual note or reason unless given) and return its minute."""
        minute = max(minute, self.last + self.rng.uniform(1, 4))
        self.steps.append(PlannedStep(name, minute, {**self.usual(name), **values}))
        self.last = minute
        return minute

    def usual(self, name: str) -> dict:
        """The note or reason people usually write for a step of this fault."""
        rng, fault = self.rng, self.fault
        if name == "pause":
            return {"reason": rng.choice(PAUSE_REASONS[self.key])}
        if name == "extend":
            return {"reason": EXTENSION_REASONS["far"], "hours": Decimal(4)}
        if name == "respond":
            return {"note": REMOTE_RESPOND_NOTE if fault.remote else rng.choice(RESPOND_NOTES)}
        if name == "follow_up":
            return {"note": rng.choice(FOLLOW_UP_NOTES[self.key])}
        notes = {**STEP_NOTES, "resolve": fault.fix, "factory_out": fault.factory}
        return {"note": notes[name]} if name in notes else {}

    def close_out(self) -> None:
        """The follow-up visit a few hours to two days after the repair, then closing."""
        self.add("follow_up", self.last + self.rng.uniform(240, 2880))
        self.add("close", self.last + self.rng.uniform(60, 1800))


class OrderPlanner:
    """Plans the demo's work orders from the seeded random source: who reports what, when, and each step."""

    def __init__(self, rng: random.Random, records: dict[str, list], now: datetime, zone: str):
        self.rng, self.now, self.zone = rng, now, ZoneInfo(zone)
        self.window_start = months_until(now, zone, MTTR_MONTHS)[0].start
        self.standards = {key: registry().standard(standard) for key, standard in ORG_STANDARDS.items()}
        self.orgs = {key: org for org in records["organisations"]
                     for key, standard in ORG_STANDARDS.items() if org.standard == standard}
        self.contracts = {key: next(c for c in records["contracts"] if c.organisation is org)
                          for key, org in self.orgs.items()}
        self.staff = {key: self._staff(records["users"], key) for key in self.orgs}
        devices = {"police": records["police_devices"], "campus": records["campus_devices"]}
        self.devices = {key: [d for d in found if d.status != "retired"] for key, found in devices.items()}
        self.keys = [key for key in ORG_STANDARDS if self.standards[key] is not None]

    def _staff(self, users: list[User], key: str) -> Staff:
        """The organisation's requester and its contracted provider's clerk and engineers."""
        org, provider = self.orgs[key], self.contracts[key].provider
        employed = [user for user in users if user.provider is provider]
        return Staff(next(u for u in employed if u.role == "clerk"),
                     [u for u in employed if u.role == "engineer"],
                     next(u for u in users if u.organisation is org and u.role == "requester"))

    def plans(self) -> list[OrderPlan]:
        """Every planned order of the enabled standards, oldest report first."""
        found = [plan for key in self.keys for plan in self.closed(key)]
        used = {plan.device for plan in found}
        found += [self.recent(case, used) for case in RECENT_CASES if case.org in self.keys]
        return sorted(found, key=lambda plan: plan.reported_at)

    # -- the closed orders of the past months ------------------------------------------------------------

    def closed(self, key: str) -> list[OrderPlan]:
        """The organisation's closed orders, each severity spread evenly over the dashboard's months."""
        features = self.features(key)
        drafts = [self.closed_order(key, fault, feature)
                  for fault, feature in zip(self.closed_faults(key, features), features, strict=True)]
        self.spread(drafts)
        return [plan for plan, _severity, _duration in drafts]

    def features(self, key: str) -> list[str | None]:
        """The side path of each closed order (None: straight through), in random places."""
        features: list[str | None] = [None] * sum(CLOSED_SEVERITIES[key].values())
        wanted = [name for name, number in CLOSED_FEATURES[key].items() for _ in range(number)]
        for slot, name in zip(self.rng.sample(range(len(features)), len(wanted)), wanted, strict=True):
            features[slot] = name
        return features

    def closed_faults(self, key: str, features: list[str | None]) -> list[Fault]:
        """A fault per closed order: one that suits its side path, the others by severity quota."""
        quota = dict(CLOSED_SEVERITIES[key])
        chosen = [self.fault(key, feature) if feature else None for feature in features]
        for fault in chosen:
            if fault is not None:
                quota[self.fault_class(key, fault)] -= 1
        pending = [severity for severity, number in quota.items() for _ in range(max(number, 0))]
        pending += [max(quota, key=quota.get)] * (chosen.count(None) - len(pending))
        self.rng.shuffle(pending)
        classes = iter(pending)
        return [fault or self.fault(key, None, next(classes)) for fault in chosen]

    def closed_order(self, key: str, fault: Fault, feature: str | None) -> tuple[OrderPlan, str, float]:
        """A closed order's plan (its report time set by ``spread``), its severity and length in minutes."""
        device = self.device(key, fault, far=feature == "far")
        channel = self.channel(key, fault, device)
        terminals, cardholders = self.counts(fault)
        severity = self.severity(key, fault, terminals, cardholders)
        timeline = Timeline(self.rng, key, fault)
        if key == "police":
            self.police_steps(timeline, severity, device, channel, feature)
        else:
            self.campus_steps(timeline, severity, channel, feature)
        timeline.close_out()
        plan = self.plan(key, fault, device, channel, (terminals, cardholders), severity, self.now, timeline)
        return plan, severity, timeline.last

    def spread(self, drafts: list[tuple[OrderPlan, str, float]]) -> None:
        """Report times: each severity's orders in random order, one per equal slice of the months."""
        by_severity: dict[str, list] = {}
        for draft in drafts:
            by_severity.setdefault(draft[1], []).append(draft)
        for group in by_severity.values():
            self.rng.shuffle(group)
            for index, (plan, _severity, duration) in enumerate(group):
                share = (index + self.rng.random()) / len(group)
                plan.reported_at = self.report_time(duration, plan.channel, share)

    def fault(self, key: str, feature: str | None, severity: str | None = None) -> Fault:
        """A fault of the organisation's catalogue that suits the side path (and severity), by how often
        it happens."""
        fits = {
            "special": lambda f: f.cause is not None,
            "factory": lambda f: bool(f.factory),
            "factory_late": lambda f: bool(f.factory),
            "spare": lambda f: f.service_type == "repair" and not f.remote and f.severity in ("urgent", "medium"),
        }.get(feature, lambda f: f.weight > 0 and not (feature and (f.remote or f.service_type != "repair")))
        candidates = [f for f in FAULTS[key]
                      if fits(f) and (severity is None or self.fault_class(key, f) == severity)]
        return self.rng.choices(candidates, weights=[max(f.weight, 1) for f in candidates])[0]

    def fault_class(self, key: str, fault: Fault) -> str:
        """The severity a fault gets (its counts' classes do not straddle a bound of CC-2)."""
        lowest = tuple(bounds[0] if bounds else None for bounds in (fault.terminals, fault.cardholders))
        return self.severity(key, fault, *lowest)

    def device(self, key: str, fault: Fault, far: bool = False, used=frozenset()) -> Device | None:
        """A device the fault can happen on (one 100 km or more from its service point when ``far``)."""
        if not fault.on_device:
            return None
        pool = [d for d in self.devices[key] if d not in used]
        if far:
            pool = [d for d in pool if d.distance_km >= self.standards[key].far_distance_km]
        fitting = [d for d in pool if (not fault.kinds or d.kind in fault.kinds)
                   and (not fault.places or any(place in d.owning_unit for place in fault.places))]
        return self.rng.choice(fitting or pool)

    def channel(self, key: str, fault: Fault, device: Device | None) -> str:
        """How the report came in: services are booked by the desk or online, account problems by people."""
        if fault.service_type == "abnormal_account":
            return self.rng.choice(("phone", "web", "app", "email"))
        if fault.service_type != "repair":
            return self.rng.choice(("phone", "email", "system"))
        weights = CHANNEL_WEIGHTS[key]
        channel = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        return "phone" if device is None and channel in ("qr", "monitoring") else channel

    def counts(self, fault: Fault) -> tuple[int | None, int | None]:
        """Affected terminals and cardholders within the fault's ranges."""
        return tuple(self.rng.randint(*bounds) if bounds else None
                     for bounds in (fault.terminals, fault.cardholders))

    def severity(self, key: str, fault: Fault, terminals: int | None, cardholders: int | None) -> str:
        """The severity the order will have: the plugin's classification (CC-2), else the desk's choice."""
        decision = services.classify(self.standards[key], terminals, cardholders, fault.cause)
        return decision.severity if decision is not None else fault.severity

    def minutes(self, hours, late_share: float, low: float, high: float = 0.92) -> float:
        """Minutes a clock of ``hours`` took: mostly inside (``low``..``high`` of it), sometimes
        (``late_share``) over it."""
        late = self.rng.random() < late_share
        return float(hours) * 60 * (self.rng.uniform(1.05, 1.4) if late else self.rng.uniform(low, high))

    def accepted_when_logged(self, key: str, channel: str) -> bool:
        """Whether the order starts accepted (the desk's and machines' reports), as the service decides."""
        reporter = reporter_of(self.staff[key], channel)
        return services.accepted_on_creation(NewOrder(self.orgs[key], "", channel=channel), reporter)

    def police_steps(self, timeline: Timeline, severity: str, device, channel: str, feature) -> None:
        """DB12/T 1060: accept → respond → arrive (or remote) → resolve, clocks from acceptance."""
        rng, standard, contract = self.rng, self.standards["police"], self.contracts["police"]
        row, fault = standard.severity(severity), timeline.fault
        start = 0.0 if self.accepted_when_logged("police", channel) else timeline.add("accept", rng.uniform(3, 30))
        if channel == "monitoring" and severity != standard.alarm_severity:
            timeline.add("severity", start + rng.uniform(2, 8), **lowered(fault, row))
        timeline.add("assign", timeline.last + rng.uniform(1, 4))
        response_hours = contract.remote_response_hours or row.response_hours
        responded = timeline.add("respond", start + self.minutes(response_hours, LATE["response"], 0.15))
        far = device is not None and standard.far_distance_km is not None \
            and device.distance_km >= standard.far_distance_km
        extra = Decimal(0)
        if far or feature == "weather":
            extra = Decimal(4 if far else 3)
            timeline.add("extend", responded + rng.uniform(3, 12), hours=extra,
                         reason=EXTENSION_REASONS["far" if far else "weather"])
        if not fault.remote:
            arrival = contract.far_arrival_hours if far else row.arrival_hours
            # An engineer who arrives with most of the repair time gone rarely makes it: on urgent faults
            # they hurry.
            high = min(0.92, 0.6 * float(row.repair_hours + extra) / float(arrival))
            timeline.add("arrive", start + self.minutes(arrival, LATE["arrival"], min(0.3, high / 2), high))
        self.repair(timeline, start, row.repair_hours + extra, feature, low=0.45)

    def campus_steps(self, timeline: Timeline, severity: str, channel: str, feature) -> None:
        """Campus card: arrive on site (the response) → resolve, both clocks from the report (CC-2r)."""
        rng, row = self.rng, self.standards["campus"].severity(severity)
        if not self.accepted_when_logged("campus", channel):
            timeline.add("accept", rng.uniform(2, 10))
        timeline.add("assign", timeline.last + rng.uniform(1, 3))
        arrived = timeline.add("arrive", self.minutes(row.arrival_hours, LATE["arrival"], 0.3))
        away = 0.0
        if feature in ("factory", "factory_late"):
            sent = timeline.add("factory_out", arrived + rng.uniform(60, 240))
            days = rng.uniform(10.3, 11.5) if feature == "factory_late" else rng.uniform(4, 9)
            away = timeline.add("factory_back", sent + days * 1440) - sent
        self.repair(timeline, 0.0, row.repair_hours, feature, low=0.3, away=away)

    def repair(self, timeline: Timeline, start: float, hours, feature, low: float, away: float = 0.0) -> None:
        """The repair: a spare unit near the deadline when it runs late (PK-5.2), a pause, then resolved."""
        rng = self.rng
        if feature == "spare":
            timeline.add("spare_provided", start + float(hours) * 60 * rng.uniform(0.8, 0.95))
            worked = float(hours) * 60 * rng.uniform(1.4, 2.4)
        elif hours is None:
            worked = rng.uniform(180, 1800)  # special: tracked with the third party, no target
        else:
            worked = self.minutes(hours, LATE["repair"], low)
        resolved = max(start + worked + away, timeline.last + rng.uniform(15, 45))
        if feature == "pause":
            paused = timeline.add("pause", timeline.last + rng.uniform(10, 40))
            resolved = max(resolved, paused + rng.uniform(20, 60))
            length = rng.uniform(60, 960)
            timeline.add("resume", paused + length)
            resolved += length
        timeline.add("resolve", resolved)

    def report_time(self, duration: float, channel: str, share: float) -> datetime:
        """A report time at ``share`` (0: oldest, 1: newest) of the dashboard's months, early enough for
        an order lasting ``duration`` minutes to be closed by now; people report in the daytime, machines
        at any hour."""
        today = self.now.astimezone(self.zone).date()
        oldest = (today - self.window_start.astimezone(self.zone).date()).days
        newest = int(duration // 1440) + 2
        days_back = newest + round(max(oldest - newest, 0) * (1 - share))
        hour = self.rng.randrange(24) if REPORTER[channel] is None and channel != "qr" else \
            self.rng.choice(BUSY_HOURS)
        local = datetime.combine(today - timedelta(days=days_back), time(hour, self.rng.randrange(60)),
                                 tzinfo=self.zone)
        return local.astimezone(UTC)

    # -- the orders of the last hours and days -----------------------------------------------------------

    def recent(self, case: RecentCase, used: set) -> OrderPlan:
        """A scripted recent order (see RECENT_CASES) on a device no other order names."""
        fault = next(f for f in FAULTS[case.org] if f.summary == case.summary)
        device = self.device(case.org, fault, far=case.far, used=used)
        used.add(device)
        terminals, cardholders = self.counts(fault)
        severity = self.severity(case.org, fault, terminals, cardholders)
        timeline = Timeline(self.rng, case.org, fault)
        for name, minute in case.steps:
            values = lowered(fault, self.standards[case.org].severity(severity)) if name == "severity" else {}
            timeline.add(name, minute, **values)
        reported_at = self.now - timedelta(minutes=case.reported_ago)
        return self.plan(case.org, fault, device, case.channel, (terminals, cardholders), severity, reported_at,
                         timeline)

    def plan(self, key, fault, device, channel, counts, severity, reported_at, timeline) -> OrderPlan:
        """The plan of one order; a report the plugin classifies or a machine's alarm carries no severity."""
        terminals, cardholders = counts
        classified = services.classify(self.standards[key], terminals, cardholders, fault.cause) is not None
        given = None if classified or channel == "monitoring" else severity
        engineer = device.maintainer if device is not None else self.rng.choice(self.staff[key].engineers)
        return OrderPlan(key, self.orgs[key], fault, device, engineer, channel, given, terminals, cardholders,
                         reported_at, timeline.steps)


# ----------------------------------------------------------------------------------------------------------
# Work orders: played through the lifecycle services
# ----------------------------------------------------------------------------------------------------------


def overdue_at(order: WorkOrder, at: datetime) -> bool:
    """Whether a clock the sweep watches would be past its deadline at ``at`` (see ``portal.sla.sweep``)."""
    if order.status == "paused":
        return False
    at_factory = order.factory_out_at is not None and order.factory_back_at is None
    for name in CLOCK_NAMES:
        due = getattr(order, f"due_{name}")
        if getattr(order, f"state_{name}") == RUNNING and due is not None and due < at \
                and not (name == "repair" and at_factory):
            return True
    return False


def _signed(user: User | None):
    """Attribute the audit events of a block to a demo user (or to the system for machines and the public)."""
    return acting_as(user.username, user.id) if user is not None else acting_as("system")


def new_order(plan: OrderPlan) -> NewOrder:
    """The report of a planned order, as the form or the alarm gives it."""
    return NewOrder(plan.organisation, plan.fault.summary, device=plan.device,
                    service_type=plan.fault.service_type, channel=plan.channel, description=plan.description(),
                    severity=plan.severity, affected_terminals=plan.terminals,
                    affected_cardholders=plan.cardholders, cause=plan.fault.cause, remote=plan.fault.remote,
                    reported_at=plan.reported_at,
                    alarm_code=plan.fault.alarm if plan.channel == "monitoring" else None)


def load_unloaded(order: WorkOrder) -> None:
    """Read the columns the insert left unloaded in one query, rather than one per step for the audit
    trail's before-images (``portal.audit.services.snapshot_before``)."""
    state = inspect(order)
    unloaded = [key for key in state.unloaded if key in state.mapper.column_attrs]
    if unloaded:
        db.session.refresh(order, unloaded)


def play(plan: OrderPlan, staff: Staff, now: datetime) -> WorkOrder:
    """Log the planned order and take its steps through the services, as the people would have.

    Before a step that comes after a running clock's deadline, the sweep runs as of that step, as the
    periodic job would have, so the breach is on the timeline before the step.
    """
    reporter = reporter_of(staff, plan.channel)
    with _signed(reporter):
        order = services.create_order(new_order(plan), reporter, now=now)
    load_unloaded(order)
    for step in plan.steps:
        at = plan.reported_at + timedelta(seconds=round(step.minute * 60))
        if overdue_at(order, at):
            db.session.commit()
            sweep(at)
            db.session.expire(order)
        actor = staff.clerk if step.name in DESK_STEPS else plan.engineer
        with _signed(actor):
            take(order, step, actor, at, now, {"assignee": plan.engineer, "approved_by": staff.requester})
            db.session.flush()
    return order


def take(order: WorkOrder, step: PlannedStep, actor: User, at: datetime, now: datetime, people: dict) -> None:
    """One planned step through the services: a change of severity or a lifecycle step (``people``: the
    engineer an assignment names and the requester who approves an extension, PK-5.1)."""
    values = dict(step.values)
    if step.name == "severity":
        services.change_severity(order, values["severity"], values["reason"], actor, now=at)
        return
    if step.name == "assign":
        values["assignee"] = people["assignee"]
    if step.name == "extend":
        values["approved_by"] = people["approved_by"]
    note = values.pop("note", "")
    services.apply_step(order, step.name, actor, at=at, note=note, now=now, **values)


def load_orders(records: dict[str, list], now: datetime) -> None:
    """Plan and play the demo's work orders, then sweep once as of now."""
    planner = OrderPlanner(random.Random(SEED + 1), records, now, current_app.config["PORTAL_TIMEZONE"])
    for plan in planner.plans():
        play(plan, planner.staff[plan.key], now)
    db.session.commit()
    sweep(now)
    db.session.expire_all()  # the sweep changed rows behind the session's back


@contextmanager
def kept_after_commit():
    """Keep the loaded records' values across commits: the demo commits before each sweep, and reloading
    every device and user each time would be most of its load time."""
    session = db.session()
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = True


def _taken(column, values) -> list[str]:
    return sorted(db.session.scalars(select(column).where(column.in_(values))))


def conflicts(records: dict[str, list]) -> list[str]:
    """Codes and usernames of the demo that the database already holds."""
    devices = [*records["police_devices"], *records["campus_devices"]]
    checks = [(Organisation.code, [o.code for o in records["organisations"]]),
              (Provider.code, [p.code for p in records["providers"]]),
              (Contract.number, [c.number for c in records["contracts"]]),
              (ServicePoint.code, [s.code for s in records["service_points"]]),
              (User.username, [u.username for u in records["users"]]),
              (Device.code, [d.code for d in devices])]
    return [value for column, values in checks for value in _taken(column, values)]


def sign_in_table() -> str:
    """The demo sign-ins as a text block: username, role, password, name."""
    lines = ["Demo sign-ins (password = demo-<username> unless changed since):",
             f"  {'username':<18} {'role':<10} {'password':<24} name"]
    lines += [f"  {u.username:<18} {u.role:<10} {u.password:<24} {u.name}" for u in DEMO_USERS]
    return "\n".join(lines)


def _sign_ins_if_loaded() -> str:
    """The sign-in table when the demo organisations are in the database (passwords as loaded)."""
    codes = [org.code for org in _organisations().values()]
    return "\n" + sign_in_table() if _taken(Organisation.code, codes) == sorted(codes) else ""


def load_demo(only_if_empty: bool) -> str:
    """Add the demo and return a summary with the sign-ins; see the module docstring."""
    if only_if_empty and db.session.scalar(select(func.count()).select_from(Organisation)):
        return "The database already has organisations: demo not loaded." + _sign_ins_if_loaded()
    now = utcnow().replace(second=0, microsecond=0)
    records = build_demo(random.Random(SEED), now.date())
    taken = conflicts(records)
    if taken:
        more = f" and {len(taken) - 8} more" if len(taken) > 8 else ""
        raise click.ClickException("the demo is already loaded or clashes with existing records: "
                                   + ", ".join(taken[:8]) + more)
    _set_passwords(records["users"])
    with kept_after_commit():
        for group in records.values():
            db.session.add_all(group)
        db.session.commit()
        load_orders(records, now)
    statuses = dict(db.session.execute(select(WorkOrder.status, func.count()).group_by(WorkOrder.status)).all())
    orders = sum(statuses.values())
    still_open = sum(statuses.get(status, 0) for status in OPEN_STATUSES)
    return (f"Demo loaded: 天津市公安局 with {len(records['police_devices'])} kiosks, "
            f"华中师范大学信息化办公室 with {len(records['campus_devices'])} card terminals, "
            f"{len(records['providers'])} providers, {len(records['contracts'])} contracts, "
            f"{len(records['users'])} users, {orders} work orders ({still_open} open, "
            f"{statuses.get('closed', 0)} closed).\n"
            + sign_in_table())
