-- title = "Fan-in: many subordinates or service objects paying one official within weeks"
-- title_zh = "多名下属、管理服务对象短期内集中向同一公职人员发红包、转账"
-- severity = "medium"
-- regulation = "《中国共产党纪律处分条例》（2023）第九十七条（收受可能影响公正执行公务的礼金）；《公职人员政务处分法》第三十四条（收受可能影响公正行使公权力的礼金）；晋升窗口内另涉《公职人员政务处分法》第三十二条第（一）项（在选拔任用、晋升等干部人事工作中违反有关规定）"
-- rationale = """Money from subordinates and 管理服务对象 is not 礼尚往来 whatever the amount (Hubei CDI policy office 2018; Liaoyang: 无论数额大小 — domain.md §3.2). When several of them pay the same official within a few weeks — around a festival, a promotion round or a decision that concerns them — the pattern is a gift collection, not a friendship. The rule counts, per official (people.official), the distinct persons declared as his subordinates or service objects (relations.csv) who paid him by red packet, transfer or QR code within a sliding span of days, and joins overlapping spans into one finding. Payments inside a promotion window (scan_windows kind 'promotion' whose org_unit is empty or is the official's or a payer's unit) raise the severity to high and name the window. Payments the official gave back (the same amount or more to the same payer within return_days), AA collections (memo) and group red-packet shares (rule service_object_group_grabs) are left out."""
-- false_positives = ["The official collecting money for a joint purchase or a team expense whose memo does not say AA or 群收款", "Repayment of money the official advanced to his staff (e.g. a business trip), visible as earlier payments from him", "A relation declared in relations.csv that has ended (a former subordinate)", "Wedding or funeral gifts within the customary amount: declare the occasion in rpa.toml [[events]] and judge by the amounts"]
-- reason_zh = "{span_days}天内{n_payers}名下属或管理服务对象（下属{n_subordinates}人、管理服务对象{n_service_objects}人）向{subject_label}发红包、转账{txn_count}笔，共¥{total_amount}（阈值：{span_days_max}天内≥{min_payers}人；超出{excess_payers}人）{window_note_zh}"
-- reason_en = "Within {span_days} days {n_payers} of the official's subordinates and service objects (subordinates: {n_subordinates}, service objects: {n_service_objects}) paid {subject_label} {txn_count} packets/transfers totalling ¥{total_amount} (threshold: ≥ {min_payers} people within {span_days_max} days; exceeded by {excess_payers}){window_note_en}"
-- internal = ["window_note_zh", "window_note_en"]
--
-- [params.span_days_max]
-- default = 30
-- description = "the payments of one cluster lie within this many days of its first payment (clusters closer than this are joined): a festival season or a promotion round"
-- [params.min_payers]
-- default = 3
-- description = "distinct subordinates or service objects paying the official within span_days_max days"
-- [params.min_amount]
-- default = 0.01
-- description = "smallest payment counted, in yuan (gifts from these people count whatever the amount)"
-- [params.return_days]
-- default = 7
-- description = "a payment the official gave back (same amount or more to the same person) within this many days is not counted"
--
-- [labels.subject_label]
-- zh = "公职人员"
-- en = "Official"
-- [labels.n_payers]
-- zh = "付款人数"
-- en = "Payers"
-- [labels.excess_payers]
-- zh = "超出阈值人数"
-- en = "Payers over the threshold"
-- [labels.n_subordinates]
-- zh = "下属人数"
-- en = "Subordinates"
-- [labels.n_service_objects]
-- zh = "管理服务对象人数"
-- en = "Service objects"
-- [labels.span_days]
-- zh = "时间跨度（天）"
-- en = "Span (days)"
-- [labels.n_in_window]
-- zh = "窗口内笔数"
-- en = "Payments in a window"
-- [labels.payers_in_window]
-- zh = "窗口内付款人数"
-- en = "Payers in a window"

WITH pay AS (
    -- payments to an official from a person declared as his subordinate or service object
    SELECT m.id, m.ts, m.day, m.amount, m.payee_party AS official, m.payer_party AS payer,
           po.org_unit AS official_unit, pp.org_unit AS payer_unit,
           (SELECT min(r.relation) FROM rel AS r
            WHERE r.person_id = m.payer_person AND r.other_id = m.payee_person
              AND r.relation IN ('subordinate', 'service_object')) AS relation
    FROM mv AS m
    JOIN people AS po ON po.person_id = m.payee_person AND po.official
    JOIN people AS pp ON pp.person_id = m.payer_person
    WHERE m.kind IN ('red_packet', 'transfer', 'qr_payment')
      AND m.status NOT IN ('refunded', 'returned')
      AND m.amount >= $min_amount
      AND m.payer_person <> m.payee_person
      -- an AA split or a group collection, if its memo says so and the amount fits a share
      -- (the scan table aa_shares, [aa_shares] in rpa.toml)
      AND m.id NOT IN (SELECT id FROM aa_shares)
      AND EXISTS (
          SELECT 1 FROM rel AS r
          WHERE r.person_id = m.payer_person AND r.other_id = m.payee_person
            AND r.relation IN ('subordinate', 'service_object')
      )
      -- a relative who is also declared a subordinate is still family
      AND NOT EXISTS (
          SELECT 1 FROM rel AS f
          WHERE f.relation = 'family' AND f.person_id = m.payer_person AND f.other_id = m.payee_person
      )
      -- given back: a refund row for it, or the official paying the same person at least
      -- as much soon after (bounded: same two parties, return_days)
      -- a refund row naming this movement (an equality join on the id: linear)
      AND NOT EXISTS (
          SELECT 1 FROM mv AS r
          WHERE r.kind = 'refund' AND r.refund_of = m.id AND r.amount >= m.amount
      )
      AND NOT EXISTS (
          SELECT 1 FROM mv AS b
          WHERE b.payer_party = m.payee_party AND b.payee_party = m.payer_party
            AND b.kind IN ('red_packet', 'transfer', 'qr_payment')
            AND b.status NOT IN ('refunded', 'returned')
            AND b.amount >= m.amount
            AND b.ts > m.ts AND b.ts <= m.ts + $return_days * INTERVAL 1 DAY
      )
),
anchored AS (
    -- Each payment as the first of a span of span_days_max days: the distinct payers in
    -- that span (a window function, not a self-join: a busy account stays linear).
    SELECT pay.*,
           count(DISTINCT payer) OVER (PARTITION BY official ORDER BY ts
                                       RANGE BETWEEN CURRENT ROW AND $span_days_max * INTERVAL 1 DAY FOLLOWING) AS n_ahead
    FROM pay
),
covered AS (
    -- A payment belongs to a cluster when a passing span (≥ min_payers payers) starting
    -- at most span_days_max days earlier contains it.
    SELECT anchored.*,
           max(CASE WHEN n_ahead >= $min_payers THEN ts END)
               OVER (PARTITION BY official ORDER BY ts
                     RANGE BETWEEN $span_days_max * INTERVAL 1 DAY PRECEDING AND CURRENT ROW) AS passing_start
    FROM anchored
),
marked AS (
    -- new cluster when the previous covered payment is more than span_days_max days back
    SELECT covered.*,
           CASE WHEN lag(ts) OVER (PARTITION BY official ORDER BY ts, id) IS NULL
                  OR lag(ts) OVER (PARTITION BY official ORDER BY ts, id) < ts - $span_days_max * INTERVAL 1 DAY
                THEN 1 ELSE 0 END AS new_cluster
    FROM covered
    WHERE passing_start IS NOT NULL
),
clustered AS (
    SELECT marked.*,
           sum(new_cluster) OVER (PARTITION BY official ORDER BY ts, id ROWS UNBOUNDED PRECEDING) AS cluster_no,
           -- the promotion window this payment falls in, if any: the window's unit is
           -- empty, the official's or the payer's
           (SELECT min(w.name) FROM scan_windows AS w
            WHERE w.kind = 'promotion' AND marked.day BETWEEN w.start_day AND w.end_day
              AND (w.org_unit IS NULL OR w.org_unit = marked.official_unit OR w.org_unit = marked.payer_unit)) AS promo_window
    FROM marked
),
agg AS (
    SELECT official, cluster_no,
           min(ts) AS start_ts, max(ts) AS end_ts,
           sum(amount) AS total_amount, count(*) AS n_payments,
           count(DISTINCT payer) AS n_payers,
           count(DISTINCT CASE WHEN relation = 'subordinate' THEN payer END) AS n_subordinates,
           count(DISTINCT CASE WHEN relation = 'service_object' THEN payer END) AS n_service_objects,
           array_agg(DISTINCT payer) AS payers,
           array_agg(id ORDER BY ts, id) AS evidence,
           min(promo_window) AS window_name,
           sum(CASE WHEN promo_window IS NOT NULL THEN 1 ELSE 0 END) AS n_in_window,
           count(DISTINCT CASE WHEN promo_window IS NOT NULL THEN payer END) AS payers_in_window
    FROM clustered
    GROUP BY official, cluster_no
)
SELECT
    a.official AS subject,
    a.payers AS counterparties,
    a.window_name,
    a.start_ts,
    a.end_ts,
    a.total_amount,
    a.n_payments AS txn_count,
    a.evidence,
    -- 60 at the threshold, +10 per payer beyond it, +20 inside a promotion window
    least(100, 60 + 10 * (a.n_payers - $min_payers) + CASE WHEN a.window_name IS NULL THEN 0 ELSE 20 END) AS score,
    CASE WHEN a.window_name IS NULL THEN 'medium' ELSE 'high' END AS severity,
    a.n_payers,
    a.n_payers - $min_payers AS excess_payers,
    a.n_subordinates,
    a.n_service_objects,
    date_diff('day', a.start_ts, a.end_ts) + 1 AS span_days,
    a.n_in_window,
    a.payers_in_window,
    CASE WHEN a.window_name IS NULL THEN ''
         ELSE '；其中' || CAST(a.payers_in_window AS VARCHAR) || '人的' || CAST(a.n_in_window AS VARCHAR)
              || '笔发生在晋升窗口内' END AS window_note_zh,   -- the window: the finding's window_name
    CASE WHEN a.window_name IS NULL THEN ''
         ELSE '; in the promotion window: ' || CAST(a.n_in_window AS VARCHAR) || ' payment(s) by '
              || CAST(a.payers_in_window AS VARCHAR) || ' person(s)' END AS window_note_en
FROM agg AS a
