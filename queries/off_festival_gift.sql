-- title = "Gifts to an official or Party member with neither a festival nor an occasion (既不逢年过节，又无喜庆之事)"
-- title_zh = "非节日、无婚丧喜庆事由收受红包、转账"
-- severity = "medium"
-- regulation = "《中国共产党纪律处分条例》（2023）第九十七条（收受明显超出正常礼尚往来的礼品、礼金）、第九十八条（向公职人员赠送礼金）；《公职人员政务处分法》第三十四条；中央纪委法规室对“明显超出正常礼尚往来”的解释（当地习俗、有来有往）"
-- rationale = """The two legitimate occasions for 礼尚往来 are festivals and 婚丧喜庆 events; a gift on a day that is neither (既不逢年过节，又无喜庆之事) has no customary reason, and a one-way stream of them from the same person is the pattern of the 南沙 and 龙岩 cases (hundreds of small packets from 管理服务对象 over two years). The rule sums, per recipient (an official or a Party member) and giver outside his family, the accepted packets and transfers that fall outside every festive season (festive_days) and outside every declared occasion of either side or of either side's family (occasions ± days). It flags a pair when the total reaches min_total or when there are at least min_gifts gifts of min_gift or more. Gifts refunded, returned or still pending do not count (refunds are netted), nor do gifts the recipient gave back within return_days (a payment to the giver of about the same amount, ± return_tolerance, matched one to one first and then in bulk: the scan table given_back, [giving_back] in rpa.toml, one ledger per recipient and giver over all the gifts between them, festive ones included): giving back is refusing, not 礼尚往来. Reciprocity (礼尚往来): what else the recipient paid the same giver, from reciprocity_days before the first gift to reciprocity_days after the last one (festivals included; less the amount that gave gifts back), is set against the gifts kept: at reciprocal_ratio or more the pair is not reported, below it the finding is lowered by one severity step. A giver who is the recipient's subordinate or service object raises the finding to high (不论金额多大), as does a total of high_total or more. The reason also says how unusual this is for the person: what he received of gifts outside festivals and occasions (every giver) in the calendar month of the pair's last gift, against his monthly average over the up to 12 months before it that the data covers (said from three months of data; a first such gift after months without is said as such)."""
-- false_positives = ["Gifts for an occasion the investigators have not declared in rpa.toml [[events]] (a birthday, a child's exam success, a house move): declare it and rescan", "Family members missing from relations.csv (a brother-in-law, an in-law's account): add the relation", "Repayment of a private loan or an advance paid for the recipient, or payment for goods bought from him (read the memo)", "Reciprocity paid through another channel (cash, a spouse's account) that the data does not show", "AA settlements whose memo names none of the [aa_shares] words in rpa.toml (by default AA / 群收款 / 均摊 / 分摊 / 平摊), or shares above its max_amount (by default 500 yuan)"]
-- reason_zh = "既不逢年过节、又无婚丧喜庆事由，收受{giver_name}（{giver_relation_zh}）红包、转账{txn_count}笔，共¥{total_amount}（阈值：合计≥¥{min_total}，或每笔≥¥{min_gift}的礼金≥{min_gifts}笔；{excess_zh}）{reciprocity_zh}{habit_zh}"
-- reason_en = "Outside every festive season and declared occasion, received {txn_count} packet(s)/transfer(s) totalling ¥{total_amount} from {giver_name} ({giver_relation_en}) (thresholds: total ≥ ¥{min_total}, or ≥ {min_gifts} gifts of ¥{min_gift} or more; {excess_en}){reciprocity_en}{habit_en}"
-- internal = ["giver", "giver_relation_zh", "giver_relation_en", "excess_zh", "excess_en", "reciprocity_zh", "reciprocity_en", "habit_zh", "habit_en"]
--
-- [params.min_total]
-- default = 200.0
-- description = "total in yuan from one giver that flags the pair: 200 is the cap of one ordinary WeChat packet, so a gift of that size is no token greeting (the Anhui grain-station case: 21 packets of 200)"
-- [params.min_gifts]
-- default = 3
-- description = "number of gifts (each at least min_gift) from one giver that flags the pair whatever the total: three occasion-less gifts are a habit, not a one-off"
-- [params.min_gift]
-- default = 10.0
-- description = "smallest gift in yuan that counts towards min_gifts, so that a few cents grabbed from a group packet are no 'habit' (they still count towards the total)"
-- [params.high_total]
-- default = 2000.0
-- description = "total in yuan from one giver that makes the finding high (ten full 200-yuan packets)"
-- [params.reciprocity_days]
-- default = 90
-- description = "days before the first and after the last gift in which the recipient's payments to the giver count as 礼尚往来 (one quarter: a return gift is seldom later)"
-- [params.reciprocal_ratio]
-- default = 0.8
-- description = "share of the gifts the recipient paid back to the giver at which the exchange counts as 礼尚往来 and the pair is not reported; any smaller repayment lowers the severity one step"
--
-- [labels.giver_name]
-- zh = "送礼人"
-- en = "Giver"
-- [labels.n_sizable]
-- zh = "达到计数标准的礼金笔数"
-- en = "Gifts of the counted size"
-- [labels.paid_back]
-- zh = "同期回付（元）"
-- en = "Paid back to the giver (yuan)"
-- [labels.habit_this_month]
-- zh = "当月同类收受（元）"
-- en = "Received of the kind that month (yuan)"
-- [labels.habit_monthly_avg]
-- zh = "此前月均（元）"
-- en = "Monthly average before (yuan)"
-- [labels.habit_months]
-- zh = "比较月数"
-- en = "Months compared"
-- [labels.habit_ratio]
-- zh = "为月均的倍数"
-- en = "Times the monthly average"

WITH received AS (
    -- accepted gifts to an official or a Party member from outside his family (the scan
    -- table gifts: packets, group-packet shares and transfers not refunded, returned or
    -- pending, net of linked refunds)
    SELECT g.id, g.ts, g.day, g.receiver, g.giver, g.giver_person, g.amount
    FROM gifts AS g
    JOIN people AS p ON p.person_id = g.receiver
    WHERE (p.official OR p.party_member)
      -- an AA / 群收款 settlement of a modest share is no gift
      AND NOT g.aa
      -- 既不逢年过节: the day is in no festive season
      AND NOT EXISTS (SELECT 1 FROM festive_days AS d WHERE d.day = g.day)
      -- 又无喜庆之事: the day is around no declared occasion of either side (or their family)
      AND NOT EXISTS (
          SELECT 1 FROM occasion_owners AS o
          WHERE o.person_id IN (g.receiver, g.giver_person)
            AND g.day BETWEEN o.day_from AND o.day_to
      )
),
-- ---- giving back: the scan table given_back holds every gift its receiver gave back
-- ---- (one ledger per receiver and giver over all their gifts; [giving_back] in
-- ---- rpa.toml): the rule's gifts not in it were kept
kept AS (
    SELECT g.*
    FROM received AS g
    WHERE NOT EXISTS (SELECT 1 FROM given_back AS b WHERE b.id = g.id)
),
pair_gifts AS (
    -- every gift of the pair, kept or given back: the span for reciprocity and the
    -- amount that was given back
    SELECT receiver, giver, min(ts) AS first_ts, max(ts) AS last_ts,
           sum(CASE WHEN id IN (SELECT id FROM kept) THEN 0 ELSE amount END) AS given_back
    FROM received
    GROUP BY receiver, giver
),
flagged_pairs AS (
    SELECT receiver AS recipient, giver, max(giver_person) AS giver_person,
           min(ts) AS start_ts, max(ts) AS end_ts, sum(amount) AS total_amount, count(*) AS txn_count,
           sum(CASE WHEN amount >= $min_gift THEN 1 ELSE 0 END) AS n_sizable,
           array_agg(id) AS evidence
    FROM kept
    GROUP BY receiver, giver
    HAVING sum(amount) >= $min_total OR sum(CASE WHEN amount >= $min_gift THEN 1 ELSE 0 END) >= $min_gifts
),
paid_to_giver AS (
    -- 礼尚往来: all the recipient paid the same giver around the gifts (any day,
    -- festivals included). Bounded by party (equality on both parties) and by time.
    SELECT pg.receiver AS recipient, pg.giver, max(pg.given_back) AS given_back,
           sum(b.amount - coalesce(r.amount, 0)) AS amount
    FROM pair_gifts AS pg
    JOIN mv AS b
      ON b.payer_party = pg.receiver
     AND b.payee_party = pg.giver
     AND b.ts >= pg.first_ts - $reciprocity_days * INTERVAL 1 DAY
     AND b.ts <= pg.last_ts + $reciprocity_days * INTERVAL 1 DAY
    LEFT JOIN refunded AS r ON r.id = b.id
    WHERE b.kind IN ('red_packet', 'group_red_packet', 'transfer')
      AND b.status NOT IN ('refunded', 'returned', 'pending')
      AND pg.receiver IN (SELECT recipient FROM flagged_pairs)
    GROUP BY pg.receiver, pg.giver
),
reciprocity AS (
    -- what is left once the payments that gave gifts back are taken off
    SELECT recipient, giver, greatest(0, amount - given_back) AS amount
    FROM paid_to_giver
),
recipient_power AS (
    -- is the giver the recipient's subordinate or service object? (不论金额多大)
    SELECT person_id AS giver_person, other_id AS recipient,
           CASE WHEN count(DISTINCT relation) > 1 THEN '下属、管理服务对象'
                WHEN min(relation) = 'subordinate' THEN '下属' ELSE '管理服务对象' END AS relation_zh,
           CASE WHEN count(DISTINCT relation) > 1 THEN 'subordinate and service object'
                WHEN min(relation) = 'subordinate' THEN 'subordinate' ELSE 'service object' END AS relation_en
    FROM rel
    WHERE relation IN ('subordinate', 'service_object')
    GROUP BY person_id, other_id
),
judged AS (
    SELECT pr.*,
           coalesce(b.amount, 0) AS paid_back,
           w.relation_zh, w.relation_en,
           coalesce(gp.name, pr.giver) AS giver_name,
           -- 3 high: a subordinate / service object, or a large total; 1 low: flagged on
           -- the count alone; 2 medium otherwise. A partial repayment lowers one step.
           greatest(1,
               CASE WHEN w.relation_zh IS NOT NULL OR pr.total_amount >= $high_total THEN 3
                    WHEN pr.total_amount < $min_total THEN 1 ELSE 2 END
               - CASE WHEN coalesce(b.amount, 0) > 0 THEN 1 ELSE 0 END) AS level
    FROM flagged_pairs AS pr
    LEFT JOIN reciprocity AS b ON b.recipient = pr.recipient AND b.giver = pr.giver
    LEFT JOIN recipient_power AS w ON w.giver_person = pr.giver_person AND w.recipient = pr.recipient
    LEFT JOIN people AS gp ON gp.person_id = pr.giver_person
    -- 礼尚往来: paid back at least reciprocal_ratio of the gifts → not reported
    WHERE coalesce(b.amount, 0) < pr.total_amount * $reciprocal_ratio
),
habit AS (
    -- how unusual this is for the person: what he received of the kind (the rule's own
    -- gifts, every giver) in the calendar month of the pair's last gift, against his
    -- monthly average over the up to 12 months before it that the data covers
    SELECT pp.recipient AS habit_receiver, pp.giver AS habit_giver,
           date_trunc('month', pp.end_ts) AS habit_month,
           least(12, date_diff('month', (SELECT date_trunc('month', min(ts)) FROM mv), date_trunc('month', pp.end_ts))) AS habit_months,
           coalesce(sum(CASE WHEN g.ts >= date_trunc('month', pp.end_ts) THEN g.amount END), 0) AS habit_this_month,
           coalesce(sum(CASE WHEN g.ts < date_trunc('month', pp.end_ts) THEN g.amount END), 0) AS habit_before
    FROM judged AS pp
    LEFT JOIN received AS g
      ON g.receiver = pp.recipient
     AND g.ts >= date_trunc('month', pp.end_ts) - INTERVAL 12 MONTH
     AND g.ts < date_trunc('month', pp.end_ts) + INTERVAL 1 MONTH
    GROUP BY pp.recipient, pp.giver, pp.end_ts
)
SELECT
    recipient AS subject,
    [giver] AS counterparties,
    CAST(NULL AS VARCHAR) AS window_name,
    start_ts,
    end_ts,
    total_amount,
    txn_count,
    evidence,
    -- 40 at the thresholds, up to +40 as the total approaches high_total, +20 for a
    -- subordinate / service object; a partial repayment takes off up to half of it
    round((40 + 40 * least(1, total_amount / $high_total) + CASE WHEN relation_zh IS NULL THEN 0 ELSE 20 END)
          * (1 - 0.5 * paid_back / total_amount), 1) AS score,
    CASE level WHEN 3 THEN 'high' WHEN 2 THEN 'medium' ELSE 'low' END AS severity,
    giver,
    giver_name,
    coalesce(relation_zh, '非家庭成员') AS giver_relation_zh,
    coalesce(relation_en, 'not family') AS giver_relation_en,
    n_sizable,
    paid_back,
    concat_ws('，',
        CASE WHEN total_amount > $min_total THEN '金额超出¥' || CASE WHEN (total_amount - $min_total) = round((total_amount - $min_total)) THEN format('{:,}', CAST((total_amount - $min_total) AS BIGINT)) ELSE format('{:,.2f}', (total_amount - $min_total)) END
             WHEN total_amount = $min_total THEN '金额恰达阈值' END,
        CASE WHEN n_sizable > $min_gifts THEN '礼金' || CAST(n_sizable AS VARCHAR) || '笔，超出' || CAST(n_sizable - $min_gifts AS VARCHAR) || '笔'
             WHEN n_sizable = $min_gifts THEN '礼金' || CAST(n_sizable AS VARCHAR) || '笔，恰达阈值' END
    ) AS excess_zh,
    concat_ws(', ',
        CASE WHEN total_amount > $min_total THEN 'total exceeded by ¥' || CASE WHEN (total_amount - $min_total) = round((total_amount - $min_total)) THEN format('{:,}', CAST((total_amount - $min_total) AS BIGINT)) ELSE format('{:,.2f}', (total_amount - $min_total)) END
             WHEN total_amount = $min_total THEN 'total exactly at the threshold' END,
        CASE WHEN n_sizable > $min_gifts THEN CAST(n_sizable AS VARCHAR) || ' gifts, ' || CAST(n_sizable - $min_gifts AS VARCHAR) || ' over'
             WHEN n_sizable = $min_gifts THEN CAST(n_sizable AS VARCHAR) || ' gifts, exactly at the threshold' END
    ) AS excess_en,
    CASE WHEN paid_back > 0
         THEN '；同期回付对方¥' || CASE WHEN paid_back = round(paid_back) THEN format('{:,}', CAST(paid_back AS BIGINT)) ELSE format('{:,.2f}', paid_back) END || '（占' || format('{:.0f}', 100 * paid_back / total_amount)
              || '%，未达礼尚往来比例' || format('{:.0f}', 100 * $reciprocal_ratio) || '%，风险等级已降一级）'
         ELSE '' END AS reciprocity_zh,
    CASE WHEN paid_back > 0
         THEN '; paid the giver back ¥' || CASE WHEN paid_back = round(paid_back) THEN format('{:,}', CAST(paid_back AS BIGINT)) ELSE format('{:,.2f}', paid_back) END || ' (' || format('{:.0f}', 100 * paid_back / total_amount)
              || '%, below the reciprocity ratio of ' || format('{:.0f}', 100 * $reciprocal_ratio) || '%; severity lowered one step)'
         ELSE '' END AS reciprocity_en,
    h.habit_this_month,
    CASE WHEN h.habit_months > 0 THEN round((h.habit_before / h.habit_months), 2) END AS habit_monthly_avg,
    h.habit_months,
    CASE WHEN h.habit_months > 0 AND h.habit_before > 0 THEN round((h.habit_this_month / (h.habit_before / h.habit_months)), 1) END AS habit_ratio,
    -- said only where it means something: three months or more of data before the month
    CASE WHEN h.habit_months < 3 THEN ''
         WHEN h.habit_before = 0 THEN '；当月（' || strftime(h.habit_month, '%Y-%m') || '）非节日收受红包、转账共¥' || CASE WHEN h.habit_this_month = round(h.habit_this_month) THEN format('{:,}', CAST(h.habit_this_month AS BIGINT)) ELSE format('{:,.2f}', h.habit_this_month) END
              || '，此前' || CAST(h.habit_months AS VARCHAR) || '个月未收受过'
         ELSE '；当月（' || strftime(h.habit_month, '%Y-%m') || '）非节日收受红包、转账共¥' || CASE WHEN h.habit_this_month = round(h.habit_this_month) THEN format('{:,}', CAST(h.habit_this_month AS BIGINT)) ELSE format('{:,.2f}', h.habit_this_month) END || '，为其此前'
              || CAST(h.habit_months AS VARCHAR) || '个月月均（¥' || CASE WHEN round((h.habit_before / h.habit_months), 2) = round(round((h.habit_before / h.habit_months), 2)) THEN format('{:,}', CAST(round((h.habit_before / h.habit_months), 2) AS BIGINT)) ELSE format('{:,.2f}', round((h.habit_before / h.habit_months), 2)) END || '）的' || CASE WHEN round((h.habit_this_month / (h.habit_before / h.habit_months)), 1) = round((h.habit_this_month / (h.habit_before / h.habit_months))) THEN CAST(CAST(round((h.habit_this_month / (h.habit_before / h.habit_months))) AS BIGINT) AS VARCHAR) ELSE format('{:.1f}', (h.habit_this_month / (h.habit_before / h.habit_months))) END || '倍' END AS habit_zh,
    CASE WHEN h.habit_months < 3 THEN ''
         WHEN h.habit_before = 0 THEN '; in ' || strftime(h.habit_month, '%Y-%m') || ' he received outside festivals and occasions ¥' || CASE WHEN h.habit_this_month = round(h.habit_this_month) THEN format('{:,}', CAST(h.habit_this_month AS BIGINT)) ELSE format('{:,.2f}', h.habit_this_month) END
              || ', none in the ' || CAST(h.habit_months AS VARCHAR) || ' months before'
         ELSE '; in ' || strftime(h.habit_month, '%Y-%m') || ' he received outside festivals and occasions ¥' || CASE WHEN h.habit_this_month = round(h.habit_this_month) THEN format('{:,}', CAST(h.habit_this_month AS BIGINT)) ELSE format('{:,.2f}', h.habit_this_month) END || ', ' || CASE WHEN round((h.habit_this_month / (h.habit_before / h.habit_months)), 1) = round((h.habit_this_month / (h.habit_before / h.habit_months))) THEN CAST(CAST(round((h.habit_this_month / (h.habit_before / h.habit_months))) AS BIGINT) AS VARCHAR) ELSE format('{:.1f}', (h.habit_this_month / (h.habit_before / h.habit_months))) END
              || '× the monthly average of the ' || CAST(h.habit_months AS VARCHAR) || ' months before (¥' || CASE WHEN round((h.habit_before / h.habit_months), 2) = round(round((h.habit_before / h.habit_months), 2)) THEN format('{:,}', CAST(round((h.habit_before / h.habit_months), 2) AS BIGINT)) ELSE format('{:,.2f}', round((h.habit_before / h.habit_months), 2)) END || ')' END AS habit_en
FROM judged
JOIN habit AS h ON h.habit_receiver = judged.recipient AND h.habit_giver = judged.giver
