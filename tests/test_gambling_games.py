"""red_packet_gambling finds games, not senders: worlds written from how 扫雷 and 接龙
are played (domain.md §2.1–2.2), with the sender rotating, beside their look-alikes.

Each world is generated round by round as the game is played (seeded, so the test is
the same on every run): the shares of a 拼手气 packet, who hits the mine, who pays whom
how much and by what, who sends next. What the rule must say (the organiser, the players,
every round and penalty as evidence, the net per player, the nights) is worked out here
from the same play, not copied from the rule's output."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.helpers import evidence_keys, movement_keys, query, rpa
from tests.rule_world import build_case

RULE = "red_packet_gambling"
CENT = Decimal("0.01")


def split(rng: random.Random, total: Decimal, n: int) -> list[Decimal]:
    """拼手气 shares: n random amounts of at least 0.01 that add up to total."""
    cents = int(total * 100)
    cuts = sorted(rng.sample(range(1, cents), n - 1))
    return [Decimal(b - a) / 100 for a, b in zip([0, *cuts], [*cuts, cents])]


class Play:
    """The movements of a generated world and the money each player won or lost."""

    def __init__(self, seed: int, prefix: str = "T"):
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.rows: list[dict] = []
        self.net: dict[str, Decimal] = {}
        self.game_ids: list[str] = []  # the rows a game finding must hold as evidence
        self.n = 0

    def add(self, ts: datetime, payer: str, payee: str, amount: Decimal, kind: str, packet: str = "", memo: str = "", in_game=True) -> str:
        self.n += 1
        txn = f"{self.prefix}{self.n:05d}"
        self.rows.append({"txn_id": txn, "ts": ts.strftime("%Y-%m-%d %H:%M:%S"), "payer": payer, "payee": payee,
                          "amount": f"{amount:.2f}", "kind": kind, "packet_id": packet, "memo": memo})
        if in_game:
            self.game_ids.append(txn)
            share = kind == "group_red_packet" and payee  # part of the sender's total, counted once
            if not share:
                self.net[payer] = self.net.get(payer, Decimal(0)) - amount
            if payee:
                self.net[payee] = self.net.get(payee, Decimal(0)) + amount
        return txn

    def round(self, ts: datetime, sender: str, players: list[str], stake: Decimal, n_shares: int) -> list[tuple[str, Decimal]]:
        """One round: the sender's packet and the shares grabbed by n_shares other players."""
        packet = f"{self.prefix}PK{self.n:05d}"
        self.add(ts, sender, "", stake, "group_red_packet", packet, memo=f"{stake:.0f}/{n_shares}")
        grabbers = self.rng.sample([p for p in players if p != sender], n_shares)
        shares = split(self.rng, stake, n_shares)
        for i, (g, s) in enumerate(zip(grabbers, shares)):
            self.add(ts + timedelta(seconds=8 + 7 * i), sender, g, s, "group_red_packet", packet)
        return list(zip(grabbers, shares))


ORGANISER = "wxid_qunzhu"
PLAYERS = [ORGANISER, "wxid_p1", "wxid_p2", "wxid_p3", "wxid_p4", "wxid_p5"]


def persons(extra: list[dict] | None = None) -> list[dict]:
    out = [{"person_id": "P100", "name": "吴建国", "accounts": [ORGANISER], "party_member": True, "official": True,
            "org_unit": "某镇农业站", "position": "站长", "rank": 3}]
    out += [{"person_id": f"P10{i}", "name": f"玩家{i}", "accounts": [f"wxid_p{i}"]} for i in range(1, 6)]
    return out + (extra or [])


def sweep_mines(play: Play, start: datetime, rounds: int, stake: Decimal, multiple: Decimal, pay_kind: str,
                players: list[str] = PLAYERS) -> dict:
    """扫雷 one night: the sender posts stake in 5 shares with a mine digit; each grabber
    whose share ends in it pays the sender multiple × stake (the 群主 is 免死) and the
    first of them sends the next round; with no hit a random player sends next."""
    sender, ts, penalties = play.rng.choice(players[1:]), start, 0
    longest_run, run, last = 0, 0, None
    for _ in range(rounds):
        run = run + 1 if sender == last else 1
        longest_run, last = max(longest_run, run), sender
        mine = play.rng.randrange(10)
        shares = play.round(ts, sender, players, stake, 5)
        hit = [g for g, s in shares if int(s * 100) % 10 == mine and g != players[0]]
        for i, g in enumerate(hit):
            play.add(ts + timedelta(seconds=70 + 20 * i), g, sender, stake * multiple, pay_kind)
            penalties += 1
        sender = hit[0] if hit else play.rng.choice([p for p in players if p != sender])
        ts += timedelta(seconds=play.rng.randrange(150, 280))
    return {"penalties": penalties, "longest_run": longest_run, "end": ts}


def chain_game(play: Play, start: datetime, rounds: int, stake: Decimal) -> dict:
    """接龙 one night: whoever grabbed the biggest share sends the next packet of stake."""
    sender, ts = play.rng.choice(PLAYERS), start
    for _ in range(rounds):
        shares = play.round(ts, sender, PLAYERS, stake, 5)
        sender = max(shares, key=lambda s: s[1])[0]
        ts += timedelta(seconds=play.rng.randrange(100, 200))
    return {"end": ts}


def scan(tmp_path, play: Play, extra_persons=None, relations=None):
    world = {"persons": persons(extra_persons), "relations": relations or [], "transactions": play.rows}
    case = build_case(tmp_path / "case", world)
    result = rpa("scan", "--rule", RULE, "--case", case)
    assert result.exit_code == 0, result.output
    return case


def findings(case):
    out = []
    for fid, subject, cps, metrics in query(case, "SELECT id, subject, counterparties, metrics FROM findings WHERE rule = ?", [RULE]):
        txns = sorted(r[0] for r in query(
            case, "SELECT t.txn_id FROM finding_evidence e JOIN transactions t ON t.id = e.transaction_id WHERE e.finding_id = ?", [fid]))
        out.append({"id": fid, "subject": subject, "counterparties": sorted(cps), "metrics": json.loads(metrics), "txn_ids": txns})
    return out


def person_of(account: str) -> str:
    return "P100" if account == ORGANISER else f"P10{account[-1]}"


def check_game(case, found: dict, play: Play, nights: int, rounds: int):
    """One finding for the whole game: the net winner as subject, the others as
    counterparties, every row of the game as evidence, net per player as played."""
    winner = max(play.net, key=lambda a: play.net[a])
    assert found["subject"] == person_of(winner)
    assert found["counterparties"] == sorted(person_of(a) for a in play.net if a != winner)
    # every row of the game, movement by movement (a round's total row is a sighting of
    # its shares' movement)
    assert evidence_keys(case, found["id"]) == movement_keys(case, play.game_ids)
    m = found["metrics"]
    assert m["n_nights"] == nights and m["n_rounds"] == rounds and len(m["nights"]) == nights
    assert sum(n["rounds"] for n in m["nights"]) == rounds
    nets = {p["player"]: Decimal(str(p["net"])) for p in m["players"]}
    assert nets == {f"{'吴建国' if a == ORGANISER else '玩家' + a[-1]}（{person_of(a)}）": v for a, v in play.net.items()}
    assert Decimal(str(m["organiser_net"])) == play.net[winner]


@pytest.mark.parametrize("seed", [1, 2])
def test_mine_sweeping_with_rotating_sender_and_packet_penalties(tmp_path, seed):
    # 扫雷: 30 rounds of 100 yuan, 1.5 × (150) paid by a 1:1 packet to the round's sender
    play = Play(seed)
    night = sweep_mines(play, datetime(2026, 5, 8, 22, 0), 30, Decimal(100), Decimal("1.5"), "red_packet")
    assert night["longest_run"] <= 4 and night["penalties"] >= 3  # the sender rotates: no one keeps it
    play.add(datetime(2026, 5, 9, 12, 0), "wxid_p1", "wxid_p2", Decimal(150), "red_packet", in_game=False)  # next noon: no penalty
    case = scan(tmp_path, play)
    (found,) = findings(case)
    check_game(case, found, play, 1, 30)
    assert found["subject"] == "P100"  # the 免死 群主 wins
    assert found["metrics"]["n_settle"] == night["penalties"]
    (severity,) = query(case, "SELECT severity FROM findings WHERE id = ?", [found["id"]])[0]
    assert severity == "high"


def test_mine_sweeping_with_double_penalties_by_transfer(tmp_path):
    # 扫雷 at 200 a round: the 2 × penalty (400) is over the packet cap, so it goes by transfer
    play = Play(7)
    night = sweep_mines(play, datetime(2026, 6, 12, 21, 30), 24, Decimal(200), Decimal(2), "transfer")
    case = scan(tmp_path, play)
    (found,) = findings(case)
    check_game(case, found, play, 1, 24)
    assert found["metrics"]["n_settle"] == night["penalties"] and Decimal(str(found["metrics"]["stake"])) == 200


def test_chain_where_the_biggest_grabber_sends_next(tmp_path):
    # 接龙: no penalties; whoever grabbed the biggest share sends the next 50-yuan packet
    play = Play(11)
    chain_game(play, datetime(2026, 7, 3, 20, 45), 25, Decimal(50))
    case = scan(tmp_path, play)
    (found,) = findings(case)
    check_game(case, found, play, 1, 25)
    m = found["metrics"]
    assert m["n_settle"] == 0 and m["chain_rounds"] >= 20  # (a best grabber may send twice in a row: not counted)


def test_one_game_over_three_nights(tmp_path):
    # the same players on three nights within a week (one a Saturday after midnight)
    play = Play(5)
    nights = [datetime(2026, 9, 4, 22, 10), datetime(2026, 9, 5, 23, 40), datetime(2026, 9, 8, 21, 0)]
    counts = [22, 18, 26]
    for start, n in zip(nights, counts):
        sweep_mines(play, start, n, Decimal(100), Decimal("1.5"), "red_packet")
    # another game among other people on the night between: another finding
    others = Play(6, prefix="X")
    strangers = ["wxid_boss2", "wxid_q1", "wxid_q2", "wxid_q3", "wxid_q4", "wxid_q5"]
    sweep_mines(others, datetime(2026, 9, 6, 22, 0), 15, Decimal(50), Decimal("1.5"), "red_packet", strangers)
    play.rows += others.rows
    case = scan(tmp_path, play)
    games = findings(case)
    assert len(games) == 2
    (other,) = [g for g in games if g["txn_ids"][0].startswith("X")]
    assert evidence_keys(case, other["id"]) == movement_keys(case, others.game_ids) and other["metrics"]["n_nights"] == 1
    (found,) = [g for g in games if g is not other]
    check_game(case, found, play, 3, sum(counts))
    per_night = found["metrics"]["nights"]
    assert [n["night"] for n in per_night] == ["2026-09-04", "2026-09-05", "2026-09-08"]
    assert [n["rounds"] for n in per_night] == counts
    # the figures of the page: each night's net per player, names not ids
    assert all("吴建国" in n["net_by_player"] for n in per_night)


def test_family_new_years_eve_burst_and_work_group_festival_packets_stay_quiet(tmp_path):
    rng = random.Random(3)
    play = Play(3)
    family = ["wxid_grandpa", "wxid_son", "wxid_daughter", "wxid_grandson", "wxid_niece"]
    fam_persons = [{"person_id": f"F{i}", "name": f"家人{i}", "accounts": [a]} for i, a in enumerate(family)]
    relations = [{"person_id": f"F{i}", "other_id": f"F{j}", "relation": "family"} for i in range(5) for j in range(i + 1, 5)]
    # 除夕: grandpa and then the children send group packets of varied totals for an hour;
    # the children send grandpa New-Year packets; nothing is paid back on the outcome
    ts = datetime(2026, 2, 16, 20, 0)
    totals = [Decimal(x) for x in (88, 66, 200, 52, 128, 99, 168, 200, 66, 188, 88, 120)]
    for i, total in enumerate(totals):
        sender = family[0] if i < 6 else rng.choice(family[1:])
        play.round(ts, sender, family, total, 4)
        if i % 3 == 1:
            play.add(ts + timedelta(seconds=50), rng.choice(family[1:3]), family[0], Decimal("66.66"), "red_packet", memo="新年快乐")
        ts += timedelta(seconds=rng.randrange(120, 400))
    # a work group on the Dragon Boat festival: colleagues take turns, totals vary, the
    # biggest grabber only now and then sends next
    staff = PLAYERS
    ts = datetime(2026, 6, 19, 9, 0)
    for total in [Decimal(x) for x in (66, 88, 100, 50, 168, 88, 66, 200, 52, 100)]:
        sender = rng.choice(staff)
        play.round(ts, sender, staff, total, 5)
        ts += timedelta(seconds=rng.randrange(60, 500))
    case = scan(tmp_path, play, fam_persons, relations)
    assert findings(case) == []


def test_show_and_report_present_the_game(tmp_path):
    # rpa show and the report's finding page show the game: players, nights, net per
    # player, under labels in the investigator's language, no internal column names
    play = Play(5)
    sweep_mines(play, datetime(2026, 9, 4, 22, 10), 12, Decimal(100), Decimal("1.5"), "red_packet")
    sweep_mines(play, datetime(2026, 9, 6, 22, 30), 10, Decimal(100), Decimal("1.5"), "red_packet")
    case = scan(tmp_path, play)
    (found,) = findings(case)
    nets = {a: f"{v:,.2f}" for a, v in play.net.items()}
    for lang, night_label, player_label in (("zh", "各晚情况", "各玩家净输赢"), ("en", "Per night", "Net per player")):
        shown = rpa("show", found["id"], "--lang", lang, "--case", case)
        assert shown.exit_code == 0, shown.output
        text = shown.output
        assert night_label in text and player_label in text
        assert "2026-09-04" in text and "2026-09-06" in text
        for account, net in nets.items():
            assert net.lstrip("-") in text  # every player's net, as played
        figures = text[text.index("指标:" if lang == "zh" else "figures:"):text.index("evidence (")]
        for internal in ("subject_label", "n_rounds", "s_stake", "signals_zh", "n_settle", "net_by_player"):
            assert internal not in figures
    out = tmp_path / "report"
    result = rpa("report", "--out", out, "--finding", found["id"], "--case", case)
    assert result.exit_code == 0, result.output
    page = (out / "findings" / f"{found['id']}.html").read_text(encoding="utf-8")
    assert "各晚情况" in page and "各玩家净输赢" in page and "组织者净赢（元）" in page
    assert "吴建国（P100）" in page and "2026-09-06" in page
    figures = page[page.index("组织者（最大赢家）"):]
    for internal in ("subject_label", "n_rounds", "s_stake", "signals_zh", "net_by_player"):
        assert f">{internal}<" not in figures
    # a masked report: the game's tables keep their figures, the players' names are gone
    masked = tmp_path / "masked"
    assert rpa("report", "--out", masked, "--mask", "--finding", found["id"], "--case", case).exit_code == 0
    (page,) = (masked / "findings").glob("*.html")
    page = page.read_text(encoding="utf-8")
    assert "各玩家净输赢" in page and "2026-09-06" in page
    assert not any(name in page for name in ("吴建国", "玩家1", "玩家2", "P100", "wxid_qunzhu"))


def test_a_rotating_fixed_stake_without_penalties_or_chain_stays_quiet(tmp_path):
    # friends take turns sending 20-yuan packets on a birthday evening (the same players,
    # a fixed stake, rounds minutes apart), but nobody pays on the outcome and the next
    # sender is whoever's turn it is, not the biggest grabber: no game
    play = Play(9)
    ts, sender = datetime(2026, 8, 1, 20, 0), PLAYERS[0]
    for _ in range(24):
        shares = play.round(ts, sender, PLAYERS, Decimal(20), 5)
        best = max(shares, key=lambda s: s[1])[0]
        turn = PLAYERS.index(sender)
        sender = next(p for p in PLAYERS[turn + 1:] + PLAYERS[:turn + 1] if p not in (sender, best))
        ts += timedelta(minutes=3)
    case = scan(tmp_path, play)
    assert findings(case) == []
