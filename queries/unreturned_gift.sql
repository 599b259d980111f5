-- title = "Gift from a subordinate or service object kept, not given back"
-- title_zh = "收受下属、管理服务对象红包、转账未退还"
-- severity = "medium"
-- regulation = "《中国共产党纪律处分条例》（2023）第九十七条（收受可能影响公正执行公务的礼金）；《公职人员政务处分法》第三十四条；湖北省纪委政策法规研究室：下属、管理服务对象的红包“不论金额多大”都不属礼尚往来；辽阳：不准收受带有工作贿赂性质的微信红包、支付宝红包，无论数额大小"
-- rationale = """A packet or transfer from a subordinate or a service object is not 礼尚往来 whatever its size; what separates an official who refused it from one who took it is whether he gave it back. The rule takes every packet or transfer an official accepted from a person whom relations.csv names his subordinate or service object (and not also his family), on any day, and asks whether he gave it back within return_days ([giving_back] in rpa.toml; the scan table given_back, one ledger per official and giver over all the gifts between them): a refund linked to it (refund_of) nets it out; a payment from him to the giver of about the same amount (± return_tolerance) within return_days after it is matched to it one to one; payments left over are set in bulk against the gifts around them (three 200-yuan packets given back as one 600-yuan transfer), so one repayment never excuses two gifts. A gift that was refunded, returned or is still pending is not a gift, nor is an AA share ([aa_shares] in rpa.toml), nor a share the official grabbed from a group packet: the giver posted that packet for everyone in the group, and grabbing a dependant's group packets over months is service_object_group_grabs's pattern. Only gifts at least return_days older than the last movement of the data are judged: the give-back of a gift from yesterday may simply not be in the data yet. Gifts around a declared occasion of the official or his family (婚丧喜庆) are left to occasion_collection. One finding per official and giver; high from high_total or high_count gifts, low below low_total, medium otherwise. The reason also says how unusual this is for the person: what he received of gifts from subordinates and service objects (every giver) in the calendar month of the pair's last gift, against his monthly average over the up to 12 months before it that the data covers (said from three months of data; a first such gift after months without is said as such)."""
-- false_positives = ["A relative or old friend who is also listed as a subordinate (add the family relation if the investigators accept it)", "Reimbursement of an expense the official advanced, payment for something he sold, or an AA share whose memo names none of the [aa_shares] words", "A gift given back in cash, through his spouse, or handed to the unit's 廉政账户 (the data does not show it)", "Left out, no longer false alarms: shares grabbed from group packets (posted for the whole group) and AA shares. The other side of it: a gift disguised as a group packet (a two-person group, an exclusive 专属红包) is not reported here either — read service_object_group_grabs and the packet's other grabbers"]
-- reason_zh = "收受{relation_zh}{giver_name}红包、转账{txn_count}笔，共¥{total_amount}，均未在{return_days}日内退还（阈值：任意金额，超出¥{total_amount}；退还以等额±{tolerance_pct}%为准；合计≥¥{high_total}或≥{high_count}笔为高风险）{returned_zh}{habit_zh}"
-- reason_en = "Kept {txn_count} packet(s)/transfer(s) totalling ¥{total_amount} from {relation_en} {giver_name}, none given back within {return_days} days (threshold: any amount, exceeded by ¥{total_amount}; a give-back is the same amount ± {tolerance_pct}%; high from ¥{high_total} or {high_count} gifts){returned_en}{habit_en}"
-- internal = ["giver", "relation", "relation_zh", "relation_en", "returned_zh", "returned_en", "habit_zh", "habit_en"]
--
-- [params.high_total]
-- default = 1000.0
-- description = "total kept from one giver, in yuan, from which the finding is high (five full 200-yuan packets; also the 不记名 prepaid-card line)"
-- [params.high_count]
-- default = 5
-- description = "number of gifts kept from one giver from which the finding is high (a habit, not one greeting)"
-- [params.low_total]
-- default = 50.0
-- description = "total in yuan below which the finding is low: grabbed shares and token greetings (still reported: 不论金额多大)"
--
-- [labels.giver_name]
-- zh = "送礼人"
-- en = "Giver"
-- [labels.return_days]
-- zh = "退还期限（天）"
-- en = "Give-back period (days)"
-- [labels.tolerance_pct]
-- zh = "退还金额容差（%）"
-- en = "Give-back tolerance (%)"
-- [labels.n_returned]
-- zh = "已按期退还笔数"
-- en = "Gifts given back in time"
-- [labels.returned_amount]
-- zh = "已按期退还金额（元）"
-- en = "Given back in time (yuan)"
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
    -- every accepted gift from such a giver, on any day (the scan table gifts: packets and
    -- transfers not refunded, returned or pending, net of linked refunds; the scan's
    -- giving-back ledger, given_back, matches payments back against the whole history
    -- of the pair). AA shares are no gift; nor is a share grabbed from a group packet:
    -- the giver posted it for everyone in the group, not for the official
    -- (service_object_group_grabs judges grabs over months)
    SELECT g.id, g.ts, g.day, w.official AS receiver, w.giver, w.relation, g.amount,
           CASE WHEN EXISTS (
               SELECT 1 FROM occasion_owners AS o
               WHERE o.person_id = w.official AND g.day BETWEEN o.day_from AND o.day_to
           ) THEN 1 ELSE 0 END AS at_occasion
    FROM gifts AS g
    JOIN power AS w ON w.giver = g.giver_person AND w.official = g.receiver
    WHERE NOT g.aa
      AND g.kind <> 'group_red_packet'
),
-- ---- giving back: the scan table given_back holds every gift its receiver gave back
-- ---- (one ledger per receiver and giver over all their gifts; [giving_back] in
-- ---- rpa.toml): the rule's gifts not in it were kept
kept AS (
    SELECT g.*
    FROM received AS g
    WHERE NOT EXISTS (SELECT 1 FROM given_back AS b WHERE b.id = g.id)
),
judged AS (
    -- only gifts whose give-back period ended inside the data can be judged
    SELECT k.*
    FROM kept AS k
    WHERE k.ts + (SELECT return_days FROM giving_back_settings) * INTERVAL 1 DAY <= (SELECT max(ts) FROM mv)
      AND k.at_occasion = 0
),
returned AS (
    -- judged gifts that were given back, for the reason (per pair)
    SELECT g.receiver, g.giver, count(*) AS n_returned, sum(g.amount) AS returned_amount
    FROM received AS g
    WHERE g.ts + (SELECT return_days FROM giving_back_settings) * INTERVAL 1 DAY <= (SELECT max(ts) FROM mv)
      AND g.at_occasion = 0
      AND g.id NOT IN (SELECT id FROM kept)
    GROUP BY g.receiver, g.giver
),
per_pair AS (
    SELECT receiver, giver,
           CASE WHEN max(relation) = 'both' THEN 'both' ELSE max(relation) END AS relation,
           min(ts) AS start_ts, max(ts) AS end_ts, sum(amount) AS total_amount, count(*) AS txn_count,
           array_agg(id) AS evidence
    FROM judged
    GROUP BY receiver, giver
),
habit AS (
    -- how unusual this is for the person: what he received of the kind (the rule's own
    -- gifts, every giver) in the calendar month of the pair's last gift, against his
    -- monthly average over the up to 12 months before it that the data covers
    SELECT pp.receiver AS habit_receiver, pp.giver AS habit_giver,
           date_trunc('month', pp.end_ts) AS habit_month,
           least(12, date_diff('month', (SELECT date_trunc('month', min(ts)) FROM mv), date_trunc('month', pp.end_ts))) AS habit_months,
           coalesce(sum(CASE WHEN g.ts >= date_trunc('month', pp.end_ts) THEN g.amount END), 0) AS habit_this_month,
           coalesce(sum(CASE WHEN g.ts < date_trunc('month', pp.end_ts) THEN g.amount END), 0) AS habit_before
    FROM per_pair AS pp
    LEFT JOIN received AS g
      ON g.receiver = pp.receiver
     AND g.ts >= date_trunc('month', pp.end_ts) - INTERVAL 12 MONTH
     AND g.ts < date_trunc('month', pp.end_ts) + INTERVAL 1 MONTH
    GROUP BY pp.receiver, pp.giver, pp.end_ts
)
SELECT
    pp.receiver AS subject,
    [pp.giver] AS counterparties,
    CAST(NULL AS VARCHAR) AS window_name,
    pp.start_ts,
    pp.end_ts,
    pp.total_amount,
    pp.txn_count,
    pp.evidence,
    -- 40 for any kept gift, up to +40 as the total reaches high_total, +4 per further gift (≤ 20)
    round(40 + 40 * least(1, pp.total_amount / $high_total) + least(20, 4 * (pp.txn_count - 1)), 1) AS score,
    CASE WHEN pp.total_amount >= $high_total OR pp.txn_count >= $high_count THEN 'high'
         WHEN pp.total_amount < $low_total THEN 'low'
         ELSE 'medium' END AS severity,
    pp.giver,
    coalesce(p.name, pp.giver) AS giver_name,
    pp.relation,
    CASE pp.relation WHEN 'subordinate' THEN '下属' WHEN 'service_object' THEN '管理服务对象' ELSE '下属兼管理服务对象' END AS relation_zh,
    CASE pp.relation WHEN 'subordinate' THEN 'subordinate' WHEN 'service_object' THEN 'service object' ELSE 'subordinate and service object' END AS relation_en,
    gs.return_days,
    CAST(round(100 * gs.return_tolerance) AS INTEGER) AS tolerance_pct,
    coalesce(b.n_returned, 0) AS n_returned,
    coalesce(b.returned_amount, 0) AS returned_amount,
    CASE WHEN b.n_returned > 0
         THEN '；另有' || CAST(b.n_returned AS VARCHAR) || '笔共¥' || CASE WHEN b.returned_amount = round(b.returned_amount) THEN format('{:,}', CAST(b.returned_amount AS BIGINT)) ELSE format('{:,.2f}', b.returned_amount) END || '已按期退还，不计入'
         ELSE '' END AS returned_zh,
    CASE WHEN b.n_returned > 0
         THEN '; ' || CAST(b.n_returned AS VARCHAR) || ' more totalling ¥' || CASE WHEN b.returned_amount = round(b.returned_amount) THEN format('{:,}', CAST(b.returned_amount AS BIGINT)) ELSE format('{:,.2f}', b.returned_amount) END || ' were given back in time and are not counted'
         ELSE '' END AS returned_en,
    h.habit_this_month,
    CASE WHEN h.habit_months > 0 THEN round((h.habit_before / h.habit_months), 2) END AS habit_monthly_avg,
    h.habit_months,
    CASE WHEN h.habit_months > 0 AND h.habit_before > 0 THEN round((h.habit_this_month / (h.habit_before / h.habit_months)), 1) END AS habit_ratio,
    -- said only where it means something: three months or more of data before the month
    CASE WHEN h.habit_months < 3 THEN ''
         WHEN h.habit_before = 0 THEN '；当月（' || strftime(h.habit_month, '%Y-%m') || '）共收受下属、管理服务对象红包、转账¥' || CASE WHEN h.habit_this_month = round(h.habit_this_month) THEN format('{:,}', CAST(h.habit_this_month AS BIGINT)) ELSE format('{:,.2f}', h.habit_this_month) END
              || '，此前' || CAST(h.habit_months AS VARCHAR) || '个月未收受过'
         ELSE '；当月（' || strftime(h.habit_month, '%Y-%m') || '）共收受下属、管理服务对象红包、转账¥' || CASE WHEN h.habit_this_month = round(h.habit_this_month) THEN format('{:,}', CAST(h.habit_this_month AS BIGINT)) ELSE format('{:,.2f}', h.habit_this_month) END || '，为其此前'
              || CAST(h.habit_months AS VARCHAR) || '个月月均（¥' || CASE WHEN round((h.habit_before / h.habit_months), 2) = round(round((h.habit_before / h.habit_months), 2)) THEN format('{:,}', CAST(round((h.habit_before / h.habit_months), 2) AS BIGINT)) ELSE format('{:,.2f}', round((h.habit_before / h.habit_months), 2)) END || '）的' || CASE WHEN round((h.habit_this_month / (h.habit_before / h.habit_months)), 1) = round((h.habit_this_month / (h.habit_before / h.habit_months))) THEN CAST(CAST(round((h.habit_this_month / (h.habit_before / h.habit_months))) AS BIGINT) AS VARCHAR) ELSE format('{:.1f}', (h.habit_this_month / (h.habit_before / h.habit_months))) END || '倍' END AS habit_zh,
    CASE WHEN h.habit_months < 3 THEN ''
         WHEN h.habit_before = 0 THEN '; in ' || strftime(h.habit_month, '%Y-%m') || ' he received from subordinates and service objects ¥' || CASE WHEN h.habit_this_month = round(h.habit_this_month) THEN format('{:,}', CAST(h.habit_this_month AS BIGINT)) ELSE format('{:,.2f}', h.habit_this_month) END
              || ', none in the ' || CAST(h.habit_months AS VARCHAR) || ' months before'
         ELSE '; in ' || strftime(h.habit_month, '%Y-%m') || ' he received from subordinates and service objects ¥' || CASE WHEN h.habit_this_month = round(h.habit_this_month) THEN format('{:,}', CAST(h.habit_this_month AS BIGINT)) ELSE format('{:,.2f}', h.habit_this_month) END || ', ' || CASE WHEN round((h.habit_this_month / (h.habit_before / h.habit_months)), 1) = round((h.habit_this_month / (h.habit_before / h.habit_months))) THEN CAST(CAST(round((h.habit_this_month / (h.habit_before / h.habit_months))) AS BIGINT) AS VARCHAR) ELSE format('{:.1f}', (h.habit_this_month / (h.habit_before / h.habit_months))) END
              || '× the monthly average of the ' || CAST(h.habit_months AS VARCHAR) || ' months before (¥' || CASE WHEN round((h.habit_before / h.habit_months), 2) = round(round((h.habit_before / h.habit_months), 2)) THEN format('{:,}', CAST(round((h.habit_before / h.habit_months), 2) AS BIGINT)) ELSE format('{:,.2f}', round((h.habit_before / h.habit_months), 2)) END || ')' END AS habit_en
FROM per_pair AS pp
JOIN habit AS h ON h.habit_receiver = pp.receiver AND h.habit_giver = pp.giver
LEFT JOIN returned AS b ON b.receiver = pp.receiver AND b.giver = pp.giver
LEFT JOIN people AS p ON p.person_id = pp.giver
CROSS JOIN giving_back_settings AS gs
