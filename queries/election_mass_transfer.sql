-- title = "Election vote buying: one sender paying many Party members"
-- title_zh = "换届期间向多名党员发红包、转账（拉票贿选）"
-- severity = "high"
-- regulation = "《中国共产党纪律处分条例》（2023）第八十三条（拉票贿选）；《公职人员政务处分法》第三十二条第（五）项（贿赂破坏选举）；《村民委员会组织法》第十七条；换届纪律“十个严禁”（严禁通过微信红包搞拉票贿选）"
-- rationale = """Local 换届 discipline lists name electronic red packets explicitly; any packet to voters inside the window is a flag and the amount is secondary (天台 2017: one 100-yuan packet split 60 ways cost a candidacy). The Guyun case: a branch secretary sent packets worth tens of thousands of yuan to 41 Party members of the branch during 换届. The rule counts, per election window and sender, the distinct Party members (or members of the window's org unit) who received a packet or transfer from him; family members of the sender are left out."""
-- false_positives = ["A family group's New Year lucky-money burst that happens to fall in the window (family is excluded only when relations.csv says so)", "Reimbursements or AA settlements by a branch treasurer", "Wedding or funeral gifts returned by the candidate (declare the occasion in rpa.toml [[events]])"]
-- reason_zh = "换届窗口「{window_name}」内向{unit_zh}{n_recipients}人（其中党员{n_party_members}名）发红包、转账{txn_count}笔，共¥{total_amount}（阈值：{min_recipients}人，超出{excess}人）"
-- reason_en = "In election window '{window_name}', paid {n_recipients} people{unit_en} ({n_party_members} of them Party members) {txn_count} packets/transfers totalling ¥{total_amount} (threshold: {min_recipients} people, exceeded by {excess})"
--
-- [params.min_recipients]
-- default = 5
-- description = "distinct Party members (or members of the window's org unit) paid by one sender in one election window"
-- [params.min_amount]
-- default = 0.01
-- description = "smallest payment counted, in yuan (any packet to voters counts)"

WITH paid AS (
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
    CASE WHEN max(org_unit) IS NULL THEN '' ELSE ' of ' || max(org_unit) END AS unit_en
FROM paid
GROUP BY sender, window_name
HAVING count(DISTINCT recipient) >= $min_recipients
