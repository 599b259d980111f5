-- title = "Side business: an official collecting many payments from many outsiders"
-- title_zh = "公职人员疑似违规经商：短期内收取大量外部人员的扫码付款、转账"
-- severity = "medium"
-- regulation = "《公职人员政务处分法》第三十六条（违反规定从事或者参与营利性活动）；《中国共产党纪律处分条例》（2023）违反有关规定从事营利活动（经商办企业）条款（条号须按2023年版原文核对）；付款人含管理服务对象时另涉第九十七条、《公职人员政务处分法》第三十四条"
-- rationale = """A shop, a 微商 trade, paid tutoring or a rental run through an official's own wallet shows as many QR-code payments and transfers from many different people who are not his family, colleagues or subordinates — customers. The rule counts, per official (people.official), the distinct outside payers (persons in the roster without such a relation and outside his org_unit, or accounts the roster does not resolve) and their payments in a sliding span of days, and joins overlapping spans into one run of business. AA splits and group collections (memo) are left out. Customers who are his service objects (relations.csv) make the finding high: trading with the people one regulates is a conflict of interest as well as a business."""
-- false_positives = ["Selling one's own second-hand goods or a one-off event (a car sale, a wedding) — look at the span and the memos", "Collecting money on behalf of a class, a residents' group or a club without AA/群收款 in the memo (班费, 团购)", "A spouse's or child's business paid into the official's QR code (still worth asking: 第三十三条 on 特定关系人)", "Rent from several tenants of a legally owned flat"]
-- reason_zh = "{span_days}天内{subject_label}收取{n_payers}名外部人员的扫码付款、转账{txn_count}笔，共¥{total_amount}，笔均¥{avg_amount}（阈值：{span_days_max}天内≥{min_payers}人且≥{min_payments}笔；超出{excess_payers}人、{excess_payments}笔）{service_note_zh}"
-- reason_en = "Within {span_days} days {subject_label} took {txn_count} QR-code payments and transfers from {n_payers} outsiders, totalling ¥{total_amount}, ¥{avg_amount} on average (threshold: ≥ {min_payers} people and ≥ {min_payments} payments within {span_days_max} days; exceeded by {excess_payers} payer(s) and {excess_payments} payment(s)){service_note_en}"
-- internal = ["service_note_zh", "service_note_en"]
--
-- [params.span_days_max]
-- default = 30
-- description = "the payments of one run lie within this many days of its first payment (runs closer than this are joined)"
-- [params.min_payers]
-- default = 15
-- description = "distinct outside payers within span_days_max days: more than a circle of friends"
-- [params.min_payments]
-- default = 30
-- description = "payments from outsiders within span_days_max days: about one a day"
-- [params.min_amount]
-- default = 0.01
-- description = "smallest payment counted, in yuan"
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
-- [labels.excess_payments]
-- zh = "超出阈值笔数"
-- en = "Payments over the threshold"
-- [labels.n_unresolved]
-- zh = "名册外付款人数"
-- en = "Payers not on the roster"
-- [labels.n_service_objects]
-- zh = "管理服务对象人数"
-- en = "Service objects"
-- [labels.avg_amount]
-- zh = "平均金额（元）"
-- en = "Average amount (yuan)"
-- [labels.span_days]
-- zh = "时间跨度（天）"
-- en = "Span (days)"

WITH pay AS (
    -- QR-code payments and transfers to an official from someone who is not his family,
    -- colleague, subordinate or superior: a person without such a relation and outside
    -- his org_unit, or an account the roster does not resolve
    SELECT m.id, m.ts, m.amount, m.payee_party AS official, m.payer_party AS payer,
           m.payer_person IS NULL AS unresolved,
           EXISTS (SELECT 1 FROM rel AS s
                   WHERE s.person_id = m.payer_person AND s.other_id = m.payee_person
                     AND s.relation = 'service_object') AS service_object
    FROM mv AS m
    JOIN people AS po ON po.person_id = m.payee_person AND po.official
    LEFT JOIN people AS pp ON pp.person_id = m.payer_person
    WHERE m.kind IN ('qr_payment', 'transfer')
      AND m.status NOT IN ('refunded', 'returned')
      AND m.amount >= $min_amount
      AND m.payer_party IS NOT NULL
      AND m.payer_party <> m.payee_party
      -- an AA split or a group collection, if its memo says so and the amount fits a share
      -- (the scan table aa_shares, [aa_shares] in rpa.toml)
      AND m.id NOT IN (SELECT id FROM aa_shares)
      AND (pp.org_unit IS NULL OR po.org_unit IS NULL OR pp.org_unit <> po.org_unit)
      AND NOT EXISTS (
          SELECT 1 FROM rel AS r
          WHERE r.person_id = m.payer_person AND r.other_id = m.payee_person
            AND r.relation IN ('family', 'colleague', 'subordinate')
      )
      AND NOT EXISTS (
          SELECT 1 FROM rel AS r
          WHERE r.person_id = m.payee_person AND r.other_id = m.payer_person
            AND r.relation = 'subordinate'
      )
      -- a refund row naming this movement (an equality join on the id: linear)
      AND NOT EXISTS (
          SELECT 1 FROM mv AS r
          WHERE r.kind = 'refund' AND r.refund_of = m.id AND r.amount >= m.amount
      )
),
anchored AS (
    -- Each payment as the first of a span of span_days_max days: payers and payments in
    -- that span (window functions, not a self-join: a busy QR code stays linear).
    SELECT pay.*,
           count(DISTINCT payer) OVER w AS payers_ahead,
           count(*) OVER w AS payments_ahead
    FROM pay
    WINDOW w AS (PARTITION BY official ORDER BY ts
                 RANGE BETWEEN CURRENT ROW AND $span_days_max * INTERVAL 1 DAY FOLLOWING)
),
covered AS (
    -- a payment belongs to a run when a passing span starting at most span_days_max
    -- days earlier contains it
    SELECT anchored.*,
           max(CASE WHEN payers_ahead >= $min_payers AND payments_ahead >= $min_payments THEN ts END)
               OVER (PARTITION BY official ORDER BY ts
                     RANGE BETWEEN $span_days_max * INTERVAL 1 DAY PRECEDING AND CURRENT ROW) AS passing_start
    FROM anchored
),
marked AS (
    -- new run when the previous covered payment is more than span_days_max days back
    SELECT covered.*,
           CASE WHEN lag(ts) OVER (PARTITION BY official ORDER BY ts, id) IS NULL
                  OR lag(ts) OVER (PARTITION BY official ORDER BY ts, id) < ts - $span_days_max * INTERVAL 1 DAY
                THEN 1 ELSE 0 END AS new_run
    FROM covered
    WHERE passing_start IS NOT NULL
),
runs AS (
    SELECT marked.*,
           sum(new_run) OVER (PARTITION BY official ORDER BY ts, id ROWS UNBOUNDED PRECEDING) AS run_no
    FROM marked
),
agg AS (
    SELECT official, run_no,
           min(ts) AS start_ts, max(ts) AS end_ts,
           sum(amount) AS total_amount, count(*) AS n_payments,
           count(DISTINCT payer) AS n_payers,
           count(DISTINCT CASE WHEN unresolved THEN payer END) AS n_unresolved,
           count(DISTINCT CASE WHEN service_object THEN payer END) AS n_service_objects,
           array_agg(DISTINCT payer) AS payers,
           array_agg(id ORDER BY ts, id) AS evidence
    FROM runs
    GROUP BY official, run_no
)
SELECT
    a.official AS subject,
    a.payers AS counterparties,
    CAST(NULL AS VARCHAR) AS window_name,
    a.start_ts,
    a.end_ts,
    a.total_amount,
    a.n_payments AS txn_count,
    a.evidence,
    -- 60 at both thresholds; +20 for each threshold passed twice over
    round(least(100, 60 + 20 * (a.n_payers - $min_payers) / $min_payers + 20 * (a.n_payments - $min_payments) / $min_payments), 1) AS score,
    CASE WHEN a.n_service_objects > 0 THEN 'high' ELSE 'medium' END AS severity,
    a.n_payers,
    a.n_payers - $min_payers AS excess_payers,
    a.n_payments - $min_payments AS excess_payments,
    a.n_unresolved,
    a.n_service_objects,
    CAST(a.total_amount / a.n_payments AS DECIMAL(18, 2)) AS avg_amount,
    date_diff('day', a.start_ts, a.end_ts) + 1 AS span_days,
    CASE WHEN a.n_service_objects > 0
         THEN '；付款人中有' || CAST(a.n_service_objects AS VARCHAR) || '名是其管理服务对象' ELSE '' END AS service_note_zh,
    CASE WHEN a.n_service_objects > 0
         THEN '; service objects of the official among the payers: ' || CAST(a.n_service_objects AS VARCHAR) ELSE '' END AS service_note_en
FROM agg AS a
