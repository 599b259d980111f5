-- title = "Grabbing, over months, the group packets of one's service objects or subordinates"
-- title_zh = "长期抢管理服务对象、下属所发群红包"
-- severity = "medium"
-- regulation = "《中国共产党纪律处分条例》（2023）第九十七条（收受可能影响公正执行公务的礼金）；《公职人员政务处分法》第三十四条（收受可能影响公正行使公权力的礼金）；中央纪委2014-09-04通知及各地规定（不准收受管理服务对象的微信红包，无论数额大小）"
-- rationale = """Small shares of group packets sent by business owners into a chamber-of-commerce or work group, grabbed for years, are treated as 收受礼金 (domain.md §2.3): 365 grabs ≈ 21,000 yuan in 2 years from one 商会会长's packets (南沙, Guangdong); 31,344.5 yuan in 2 years (a deputy town head, 严重警告); 12,680 yuan 2020-01 → 2022-02 (a deputy bureau head, removed from post); 10,430 and 10,765 yuan (police officers in 龙岩). No single grab looks like anything, festival or not; the sum does. The rule cumulates, over the whole scan, per official (people.official) and sender declared as his service object or subordinate (relations.csv), the shares of that sender's group red packets the official grabbed, and flags the pair past a count or an amount. Family members are left out even when also declared service objects. The reason states the duration and what the sender grabbed from the official's own group packets in return (礼尚往来 needs both directions)."""
-- false_positives = ["A sender wrongly declared a service object, or a relation that ended (the scan has no dates for relations)", "Grabs the official handed back in ways the data does not show (cash, a returned packet outside the data): ask", "A work group where the official sends about as much as he grabs: read amount_back"]
-- reason_zh = "{first_day}至{last_day}（历时{duration_days}天，其中{active_months}个月里的{active_days}天）{subject_label}抢得其{relation_zh}{sender_label}所发群红包{txn_count}次，共¥{total_amount}（阈值：≥{min_grabs}次或≥¥{min_amount}；{excess_zh}）；同期对方抢得其群红包{n_back}次、¥{amount_back}"
-- reason_en = "From {first_day} to {last_day} ({duration_days} days; grabs on {active_days} days in {active_months} months) {subject_label} grabbed {txn_count} shares, ¥{total_amount} in all, of group red packets sent by {sender_label}, a {relation_en} of the official (threshold: ≥ {min_grabs} grabs or ≥ ¥{min_amount}; {excess_en}); in the same period the sender grabbed {n_back} shares, ¥{amount_back}, of the official's group packets"
-- internal = ["sender", "relation", "relation_zh", "relation_en", "excess_zh", "excess_en"]
--
-- [params.min_grabs]
-- default = 30
-- description = "grabs from one sender's group packets over the scan: a tenth of the 南沙 case's 365, more than festive greetings in a work group bring in a year"
-- [params.min_amount]
-- default = 1000.0
-- description = "yuan grabbed from one sender over the scan: a tenth of the smallest punished cases (10,430 yuan), five times the 200-yuan packet cap"
-- [params.high_amount]
-- default = 10000.0
-- description = "yuan from which the finding is high: the level at which the cited cases ended in 诫勉 or removal from post"
--
-- [labels.subject_label]
-- zh = "抢包人"
-- en = "Grabber"
-- [labels.sender_label]
-- zh = "发包人"
-- en = "Sender"
-- [labels.first_day]
-- zh = "首次"
-- en = "First"
-- [labels.last_day]
-- zh = "末次"
-- en = "Last"
-- [labels.duration_days]
-- zh = "持续天数"
-- en = "Duration (days)"
-- [labels.active_days]
-- zh = "有抢包的天数"
-- en = "Days with grabs"
-- [labels.active_months]
-- zh = "有抢包的月数"
-- en = "Months with grabs"
-- [labels.excess_grabs]
-- zh = "超出阈值次数"
-- en = "Grabs over the threshold"
-- [labels.excess_amount]
-- zh = "超出阈值金额（元）"
-- en = "Amount over the threshold (yuan)"
-- [labels.n_back]
-- zh = "回付笔数"
-- en = "Payments back"
-- [labels.amount_back]
-- zh = "回付金额（元）"
-- en = "Paid back (yuan)"

WITH dependants AS (
    -- one row per (sender, official) declared as service object or subordinate; a pair
    -- that is also family is left out
    SELECT r.person_id AS sender, r.other_id AS official, min(r.relation) AS relation
    FROM rel AS r
    WHERE r.relation IN ('service_object', 'subordinate')
      AND NOT EXISTS (
          SELECT 1 FROM rel AS f
          WHERE f.relation = 'family' AND f.person_id = r.person_id AND f.other_id = r.other_id
      )
    GROUP BY r.person_id, r.other_id
),
grabs AS (
    -- the official's grabbed shares of the sender's group packets (payee = the official;
    -- the sender's own row of the packet has no payee and is not a grab)
    SELECT m.id, m.ts, m.day, m.amount, d.official, d.sender, d.relation
    FROM mv AS m
    JOIN dependants AS d ON d.sender = m.payer_person AND d.official = m.payee_person
    JOIN people AS po ON po.person_id = d.official AND po.official
    WHERE m.kind = 'group_red_packet'
      AND m.status NOT IN ('refunded', 'returned')
),
agg AS (
    SELECT official, sender, min(relation) AS relation,
           min(ts) AS start_ts, max(ts) AS end_ts,
           sum(amount) AS total_amount, count(*) AS n_grabs,
           count(DISTINCT day) AS active_days,
           count(DISTINCT date_trunc('month', day)) AS active_months,
           array_agg(id ORDER BY ts, id) AS evidence
    FROM grabs
    GROUP BY official, sender
    HAVING count(*) >= $min_grabs OR sum(amount) >= $min_amount
),
back AS (
    -- reciprocity: shares of the official's own group packets that the sender grabbed
    -- in the same period (bounded: both parties and the span of the grabs)
    SELECT a.official, a.sender, count(m.id) AS n_back, coalesce(sum(m.amount), 0) AS amount_back
    FROM agg AS a
    LEFT JOIN mv AS m
      ON m.payer_person = a.official AND m.payee_person = a.sender
     AND m.ts >= a.start_ts AND m.ts <= a.end_ts
     AND m.kind = 'group_red_packet' AND m.status NOT IN ('refunded', 'returned')
    GROUP BY a.official, a.sender
)
SELECT
    a.official AS subject,
    [a.sender] AS counterparties,
    CAST(NULL AS VARCHAR) AS window_name,
    a.start_ts,
    a.end_ts,
    a.total_amount,
    a.n_grabs AS txn_count,
    a.evidence,
    -- 60 at a threshold, +20 for each further threshold's worth on the stronger measure
    round(least(100, 60 + 20 * (greatest(1.0 * a.n_grabs / $min_grabs, a.total_amount / $min_amount) - 1)), 1) AS score,
    CASE WHEN a.total_amount >= $high_amount THEN 'high' ELSE 'medium' END AS severity,
    a.sender,
    a.relation,
    CASE WHEN a.relation = 'subordinate' THEN '下属' ELSE '管理服务对象' END AS relation_zh,
    CASE WHEN a.relation = 'subordinate' THEN 'subordinate' ELSE 'service object' END AS relation_en,
    CAST(a.start_ts AS DATE) AS first_day,
    CAST(a.end_ts AS DATE) AS last_day,
    date_diff('day', a.start_ts, a.end_ts) + 1 AS duration_days,
    a.active_days,
    a.active_months,
    a.n_grabs - $min_grabs AS excess_grabs,
    a.total_amount - $min_amount AS excess_amount,
    -- name the threshold(s) passed and by how much
    concat_ws('、',
        CASE WHEN a.n_grabs >= $min_grabs THEN '次数超出' || CAST(a.n_grabs - $min_grabs AS VARCHAR) || '次' END,
        CASE WHEN a.total_amount >= $min_amount THEN '金额超出¥' || format('{:,.2f}', a.total_amount - $min_amount) END
    ) AS excess_zh,
    concat_ws(', ',
        CASE WHEN a.n_grabs >= $min_grabs THEN 'count exceeded by ' || CAST(a.n_grabs - $min_grabs AS VARCHAR) END,
        CASE WHEN a.total_amount >= $min_amount THEN 'amount exceeded by ¥' || format('{:,.2f}', a.total_amount - $min_amount) END
    ) AS excess_en,
    b.n_back,
    b.amount_back
FROM agg AS a
JOIN back AS b ON b.official = a.official AND b.sender = a.sender
