"""The demo: a Tianjin police bureau with ~200 kiosks and a university with ~500 card terminals.

``load_demo`` builds everything from ``random.Random(SEED)``, so every load produces the same records, and
adds it in one transaction (the audit trail records each record as usual). Every demo user signs in with the
password ``demo-<username>``; the returned text lists them (``make run`` prints it).
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import click
from sqlalchemy import func, select

from portal.auth.models import User
from portal.devices.models import Device
from portal.extensions import db
from portal.orgs.models import Contract, Organisation, Provider, ServicePoint
from portal.plugins import registry

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


def _contracts(orgs, providers) -> list[Contract]:
    return [
        Contract(number="TJGA-YW-2026-001", organisation=orgs["police"], provider=providers["jinan"],
                 standard=POLICE_STANDARD, starts_on=date(2026, 1, 1), ends_on=date(2028, 12, 31),
                 far_arrival_hours=Decimal("6"), remote_response_hours=Decimal("0.5"),
                 notes="警务自助服务终端运维，7×24小时；距服务网点100公里及以上的终端6小时内到达现场。"),
        Contract(number="CCNU-YKT-2025-07", organisation=orgs["campus"], provider=providers["chutian"],
                 standard=CAMPUS_STANDARD, starts_on=date(2025, 9, 1), ends_on=date(2027, 8, 31),
                 notes="校园一卡通基础运维外包服务。"),
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


def build_demo(rng: random.Random) -> dict[str, list]:
    """Every demo record, unsaved and users without passwords yet, grouped by kind."""
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
        "contracts": _contracts(orgs, providers),
        "service_points": [*police_points.values(), *campus_points.values()],
        "users": users,
        "police_devices": _police_devices(rng, orgs["police"], police_points, police_engineers),
        "campus_devices": _campus_devices(rng, orgs["campus"], campus_points, campus_engineers),
    }


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
    """Add the demo in one transaction and return a summary with the sign-ins; see the module docstring."""
    if only_if_empty and db.session.scalar(select(func.count()).select_from(Organisation)):
        return "The database already has organisations: demo not loaded." + _sign_ins_if_loaded()
    records = build_demo(random.Random(SEED))
    taken = conflicts(records)
    if taken:
        more = f" and {len(taken) - 8} more" if len(taken) > 8 else ""
        raise click.ClickException("the demo is already loaded or clashes with existing records: "
                                   + ", ".join(taken[:8]) + more)
    _set_passwords(records["users"])
    for group in records.values():
        db.session.add_all(group)
    db.session.commit()
    return (f"Demo loaded: 天津市公安局 with {len(records['police_devices'])} kiosks, "
            f"华中师范大学信息化办公室 with {len(records['campus_devices'])} card terminals, "
            f"{len(records['providers'])} providers, {len(records['contracts'])} contracts, "
            f"{len(records['users'])} users.\n" + sign_in_table())
