-- title = "Election vote buying: one sender paying many Party members"
-- title_zh = "换届期间向多名党员发红包、转账（拉票贿选）"
-- severity = "high"
-- regulation = "《中国共产党纪律处分条例》（2023）第八十三条（拉票贿选）；《公职人员政务处分法》第三十二条第（五）项（贿赂破坏选举）；《村民委员会组织法》第十七条；换届纪律“十个严禁”（严禁通过微信红包搞拉票贿选）"
-- rationale = """Local 换届 discipline lists name electronic red packets explicitly; any packet to voters inside the window is a flag and the amount is secondary (天台 2017: one 100-yuan packet split 60 ways cost a candidacy). The Guyun case: a branch secretary sent packets worth tens of thousands of yuan to 41 Party members of the branch during 换届. The rule counts, per election window and sender, the distinct Party members (or members of the window's org unit) who received a packet, transfer or QR payment from him. Left out, because they buy no vote: payments to the sender's family; AA shares (the memo names an AA word of [aa_shares] and the amount fits a share: the sender paying his part of a meal to the colleague who collected it); repayments (the scan's giving-back ledger, given_back: a payment of about the amount the member paid the sender within return_days before, one to one, or in bulk as long as it pays back no more than it gives back — a loan repaid, an advance or a gift returned); and gifts at a declared occasion of the member or his family (rpa.toml [[events]]: a wedding or funeral gift). Everything else counts, whatever the amount or the memo."""
-- false_positives = ["A family group's New Year lucky-money burst that happens to fall in the window (family is excluded only when relations.csv says so)", "Reimbursements by a branch treasurer of expenses members advanced (报销), or money a collector returns (dues, a cancelled group purchase): the data shows only payments to members; ask for the accounts (a memo alone is not excused: a vote buyer can write one)", "A loan from a member repaid later than return_days ([giving_back] in rpa.toml), or repaid in cash and then again by transfer; AA shares whose memo names none of the [aa_shares] words or that exceed its max_amount (AA shares, repayments within return_days and gifts at a declared occasion of the recipient or his family are already left out)", "Gifts for a member's occasion the investigators have not declared in rpa.toml [[events]]: declare it and rescan"]
-- reason_zh = "换届窗口「{window_name}」内向{unit_zh}{n_recipients}人（其中党员{n_party_members}名）发红包、转账{txn_count}笔，共¥{total_amount}（阈值：{min_recipients}人，超出{excess}人）"
-- reason_en = "In election window '{window_name}', paid {n_recipients} people{unit_en}{unit_zh} ({n_party_members} of them Party members) {txn_count} packets/transfers totalling ¥{total_amount} (threshold: {min_recipients} people, exceeded by {excess})"
-- internal = ["unit_zh", "unit_en"]
--
-- [params.min_recipients]
-- default = 5
-- description = "distinct Party members (or members of the window's org unit) paid by one sender in one election window"
-- [params.min_amount]
-- default = 0.01
-- description = "smallest payment counted, in yuan (any packet to voters counts)"
--
-- [labels.n_recipients]
-- zh = "收款人数"
-- en = "Recipients"
-- [labels.n_party_members]
-- zh = "其中党员人数"
-- en = "Party members among them"
-- [labels.excess]
-- zh = "超出阈值人数"
-- en = "Recipients over the threshold"
-- [labels.org_unit]
-- zh = "选举单位"
-- en = "Electing unit"

WITH repaid_one AS (
    -- payments that give back money the recipient had paid the sender (a loan repaid, a
    -- gift or an advance returned): the scan's giving-back ledger, given_back ([giving_back]
    -- in rpa.toml), matched them one to one to a payment of about the same amount from
    -- the recipient within return_days before
    SELECT u.id
    FROM given_back AS b
    CROSS JOIN unnest(b.back_ids) AS u(id)
    WHERE b.how = 'equal payment back'
),
bulk_gifts AS (
    -- what the recipient paid the sender that was given back in bulk, per pair
    SELECT g.receiver, g.giver, sum(g.amount) AS amount
    FROM given_back AS b
    JOIN gifts AS g ON g.id = b.id
    WHERE b.how = 'payments back'
    GROUP BY g.receiver, g.giver
),
bulk_backs AS (
    SELECT DISTINCT g.receiver, g.giver, u.id
    FROM given_back AS b
    JOIN gifts AS g ON g.id = b.id
    CROSS JOIN unnest(b.back_ids) AS u(id)
    WHERE b.how = 'payments back'
),
repaid_pairs AS (
    -- payments back in bulk are a repayment only while they do not pay back more than
    -- they give back (± return_tolerance): borrowing 100 and "paying back" 300 leaves 200
    -- for the voter
    SELECT bb.receiver, bb.giver
    FROM bulk_backs AS bb
    JOIN mv AS m ON m.id = bb.id
    JOIN bulk_gifts AS bg ON bg.receiver = bb.receiver AND bg.giver = bb.giver
    GROUP BY bb.receiver, bb.giver
    HAVING sum(m.amount) <= max(bg.amount) * (1 + (SELECT max(return_tolerance) FROM giving_back_settings))
),
repaid AS (
    SELECT id FROM repaid_one
    UNION
    SELECT bb.id
    FROM bulk_backs AS bb
    JOIN repaid_pairs AS rp ON rp.receiver = bb.receiver AND rp.giver = bb.giver
),
paid AS (
    -- every packet or transfer inside an election window to a Party member or to a
    -- member of the unit that votes, not to the sender's own family
    SELECT w.name AS window_name, w.org_unit, m.payer_party AS sender, m.payee_party AS recipient,
           p.party_member, m.id, m.ts, m.amount
    FROM mv AS m
    JOIN scan_windows AS w
      ON w.kind = 'election' AND m.day BETWEEN w.start_day AND w.end_day
    JOIN people AS p
      ON p.person_id = m.payee_person
    WHERE m.kind IN ('red_packet', 'group_red_packet', 'transfer', 'qr_payment')
      AND m.status NOT IN ('refunded', 'returned')
      AND m.amount >= $min_amount
      AND m.payer_party IS NOT NULL
      AND m.payer_party <> m.payee_party
      AND (p.party_member OR p.org_unit = w.org_unit)
      AND NOT EXISTS (
          SELECT 1 FROM rel AS r
          WHERE r.relation = 'family' AND r.person_id = m.payer_person AND r.other_id = m.payee_person
      )
      -- the sender's share of a shared bill, paid to the colleague who collected it (its
      -- memo says AA / 群收款 and the amount fits a share: the scan table aa_shares,
      -- [aa_shares] in rpa.toml)
      AND m.id NOT IN (SELECT id FROM aa_shares)
      -- money the recipient had lent or paid the sender, paid back
      AND m.id NOT IN (SELECT id FROM repaid)
      -- a gift at a declared occasion of the recipient or his family (his wedding, a
      -- funeral in his family: rpa.toml [[events]] ± days) is 礼尚往来, not a vote
      AND NOT EXISTS (
          SELECT 1 FROM occasion_owners AS o
          WHERE o.person_id = m.payee_person AND m.day BETWEEN o.day_from AND o.day_to
      )
)
SELECT
    sender AS subject,
    array_agg(DISTINCT recipient) AS counterparties,
    window_name,
    min(ts) AS start_ts,
    max(ts) AS end_ts,
    sum(amount) AS total_amount,
    count(*) AS txn_count,
    array_agg(id) AS evidence,
    -- 60 at the threshold, rising with each recipient beyond it
    least(100, 60 + 40 * (count(DISTINCT recipient) - $min_recipients) / $min_recipients) AS score,
    count(DISTINCT recipient) AS n_recipients,
    count(DISTINCT CASE WHEN party_member THEN recipient END) AS n_party_members,
    count(DISTINCT recipient) - $min_recipients AS excess,
    coalesce(max(org_unit), '') AS org_unit,
    CASE WHEN max(org_unit) IS NULL THEN '' ELSE max(org_unit) END AS unit_zh,
    CASE WHEN max(org_unit) IS NULL THEN '' ELSE ' of ' END AS unit_en   -- the unit itself: unit_zh, a value of its own
FROM paid
GROUP BY sender, window_name
HAVING count(DISTINCT recipient) >= $min_recipients
