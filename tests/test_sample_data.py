"""The committed sample_data loads as README promises: every layout, dedupe across them."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import ROOT
from tests.helpers import query, rpa

SAMPLE = ROOT / "sample_data"


def test_sample_data_loads_every_layout_and_dedupes_across_them(tmp_path):
    case = tmp_path / "demo"
    assert rpa("init", case).exit_code == 0
    roster = rpa("roster", SAMPLE / "people.csv", "--relations", SAMPLE / "relations.csv", "--case", case)
    assert roster.exit_code == 0, roster.output
    result = rpa("ingest", SAMPLE, "--case", case)
    assert result.exit_code == 0, result.output
    assert "34 movements added, 8 already known, 0 rows rejected" in result.stdout
    formats = sorted(r[0] for r in query(case, "SELECT format FROM sources"))
    assert formats == ["alipay_app_2023", "canonical_csv", "tenpay_27", "tenpay_27", "wechat_csv", "wechat_xlsx"]
    assert query(case, "SELECT matched_on, count(*) FROM duplicates GROUP BY 1 ORDER BY 1") == [
        ("parties+amount+time", 5), ("shared id", 3)
    ]
    # 王建国's packets to the four Party members: 12 × 200, each stored once, the ones to
    # 李红 seen in both bills.
    rows = query(
        case,
        """SELECT payee_person, count(*), sum(amount), bool_and(seen_by_payee) FROM movements
           WHERE payer_person = 'P001' AND kind = 'red_packet' GROUP BY 1 ORDER BY 1""",
    )
    assert rows == [
        ("P002", 3, Decimal("600.00"), True),
        ("P003", 3, Decimal("600.00"), False),
        ("P004", 3, Decimal("600.00"), False),
        ("P005", 3, Decimal("600.00"), False),
    ]
    # 张老板 → 王建国 packets: four in the Tenpay production (seen from both accounts),
    # the WeChat bill's copy of one of them merged into it.
    assert query(
        case,
        "SELECT count(*), sum(amount) FROM movements WHERE payer_person = 'P010' AND payee_person = 'P001' AND kind = 'red_packet'",
    ) == [(4, Decimal("800.00"))]
    # the Tenpay group packet: three shares, 50 yuan in all, not three times the total
    assert query(case, "SELECT count(*), sum(amount) FROM transactions WHERE kind = 'group_red_packet' AND channel = 'tenpay'") == [
        (3, Decimal("50.00"))
    ]
    # the group packet's leftover refund is linked to the packet
    assert query(
        case,
        "SELECT r.amount, o.amount, o.status FROM transactions r JOIN transactions o ON o.id = r.refund_of WHERE r.kind = 'refund'",
    ) == [(Decimal("12.34"), Decimal("500.00"), "partly_refunded")]
    # with the sample's election window, the scan finds the vote buying
    (case / "rpa.toml").write_text((SAMPLE / "rpa.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert rpa("scan", "--rule", "election_mass_transfer", "--case", case).exit_code == 0
    (found,) = query(case, "SELECT subject, list_sort(counterparties) FROM findings")
    assert found == ("P001", ["P002", "P003", "P004", "P005", "P007", "P008"])
    status = rpa("status", "--case", case)
    assert "6 sources, 34 movements" in status.stdout and "9 persons, 3 relations" in status.stdout
