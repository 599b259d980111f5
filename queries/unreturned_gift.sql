-- title = "Gift from a subordinate or service object kept, not given back"
-- title_zh = "收受下属、管理服务对象红包、转账未退还"
-- severity = "medium"
-- regulation = "《中国共产党纪律处分条例》（2023）第九十七条（收受可能影响公正执行公务的礼金）；《公职人员政务处分法》第三十四条；湖北省纪委政策法规研究室：下属、管理服务对象的红包“不论金额多大”都不属礼尚往来；辽阳：不准收受带有工作贿赂性质的微信红包、支付宝红包，无论数额大小"
-- rationale = """A packet or transfer from a subordinate or a service object is not 礼尚往来 whatever its size; what separates an official who refused it from one who took it is whether he gave it back. The rule takes every packet or transfer an official accepted from a person whom relations.csv names his subordinate or service object (and not also his family), on any day, and asks whether he gave it back within return_days: a refund linked to it (refund_of) nets it out; a payment from him to the giver of about the same amount (± return_tolerance) within return_days after it is matched to it one to one; payments left over are set in bulk against the gifts around them (three 200-yuan packets given back as one 600-yuan transfer), so one repayment never excuses two gifts. A gift that was refunded, returned or is still pending is not a gift. Only gifts at least return_days older than the last movement of the data are judged: the give-back of a gift from yesterday may simply not be in the data yet. Gifts around a declared occasion of the official or his family (婚丧喜庆) are left to occasion_collection. One finding per official and giver; high from high_total or high_count gifts, low below low_total, medium otherwise."""
-- false_positives = ["A relative or old friend who is also listed as a subordinate (add the family relation if the investigators accept it)", "Reimbursement of an expense the official advanced, payment for something he sold, or an AA share whose memo does not say so", "A gift given back in cash, through his spouse, or handed to the unit's 廉政账户 (the data does not show it)", "A share grabbed from a work-group packet a subordinate posted for everyone (low below low_total)"]
-- reason_zh = "收受{relation_zh}{giver_name}红包、转账{txn_count}笔，共¥{total_amount}，均未在{return_days}日内退还（阈值：任意金额，超出¥{total_amount}；退还以等额±{tolerance_pct}%为准；合计≥¥{high_total}或≥{high_count}笔为高风险）{returned_zh}"
-- reason_en = "Kept {txn_count} packet(s)/transfer(s) totalling ¥{total_amount} from {relation_en} {giver_name}, none given back within {return_days} days (threshold: any amount, exceeded by ¥{total_amount}; a give-back is the same amount ± {tolerance_pct}%; high from ¥{high_total} or {high_count} gifts){returned_en}"
--
-- [params.return_days]
-- default = 7
-- description = "days after a gift within which giving it back (refund, or a payment of about the same amount to the giver) excuses it; gifts younger than this at the end of the data are not judged. A deliberate refusal is made within days; WeChat itself returns an unaccepted transfer after 24 h"
-- [params.return_tolerance]
-- default = 0.05
-- description = "share by which a payment back may differ from the gift and still give it back (190 or 210 for 200)"
-- [params.high_total]
-- default = 1000.0
-- description = "total kept from one giver, in yuan, from which the finding is high (five full 200-yuan packets; also the 不记名 prepaid-card line)"
-- [params.high_count]
-- default = 5
-- description = "number of gifts kept from one giver from which the finding is high (a habit, not one greeting)"
-- [params.low_total]
-- default = 50.0
-- description = "total in yuan below which the finding is low: grabbed shares and token greetings (still reported: 不论金额多大)"
-- [params.aa_words]
-- default = ["AA", "群收款", "均摊", "分摊", "平摊"]
-- description = "words in the upper-cased memo that mark an AA / shared-bill settlement, which is not a gift (any one of them; each may be a regular expression)"
-- [params.aa_max_amount]
-- default = 500.0
-- description = "largest payment in yuan that an AA memo can excuse; larger 'AA' payments count as gifts"

WITH refunded AS (
    -- money given back through the platform: a refund row points at the movement it
    -- returns (an equality join on the movement id)
    SELECT refund_of AS id, sum(amount) AS amount
    FROM mv
    WHERE kind = 'refund' AND refund_of IS NOT NULL
    GROUP BY refund_of
),
power AS (
    -- giver → official: the giver is the official's subordinate or service object and
    -- not also his family (one row per pair even when both relations are declared)
    SELECT r.person_id AS giver, r.other_id AS official,
           CASE WHEN count(DISTINCT r.relation) > 1 THEN 'both' ELSE min(r.relation) END AS relation
    FROM rel AS r
    JOIN people AS p ON p.person_id = r.other_id
    WHERE r.relation IN ('subordinate', 'service_object')
      AND p.official
      AND NOT EXISTS (
          SELECT 1 FROM rel AS f
          WHERE f.relation = 'family' AND f.person_id = r.person_id AND f.other_id = r.other_id
      )
    GROUP BY r.person_id, r.other_id
),
occasion_owners AS (
    -- declared occasions, and the same occasion for each family member of its owner
    SELECT person_id, day_from, day_to FROM occasions
    UNION ALL
    SELECT f.person_id, o.day_from, o.day_to
    FROM occasions AS o
    JOIN rel AS f ON f.relation = 'family' AND f.other_id = o.person_id
),
gifts AS (
    -- every accepted gift from such a giver, on any day: all of them enter the
    -- giving-back ledger (a payment back is matched against the whole history)
    SELECT m.id, m.ts, m.day, w.official AS receiver, w.giver, w.relation,
           m.amount - coalesce(r.amount, 0) AS amount,
           CASE WHEN EXISTS (
               SELECT 1 FROM occasion_owners AS o
               WHERE o.person_id = w.official AND m.day BETWEEN o.day_from AND o.day_to
           ) THEN 1 ELSE 0 END AS at_occasion
    FROM mv AS m
    JOIN power AS w ON w.giver = m.payer_person AND w.official = m.payee_person
    LEFT JOIN refunded AS r ON r.id = m.id
    WHERE m.kind IN ('red_packet', 'group_red_packet', 'transfer')
      -- refunded / returned: never accepted; pending: not (yet) accepted
      AND m.status NOT IN ('refunded', 'returned', 'pending')
      AND m.amount - coalesce(r.amount, 0) > 0
      AND NOT (m.memo IS NOT NULL AND regexp_matches(upper(m.memo), array_to_string($aa_words, '|')) AND m.amount <= $aa_max_amount)
),
-- ---- giving back (the same block in off_festival_gift, festival_gift_to_official,
-- ---- unreturned_gift, proxy_receipt and occasion_collection): which gifts did the
-- ---- receiver keep?
pairs AS (
    SELECT receiver, giver, min(ts) AS first_ts, max(ts) AS last_ts
    FROM gifts
    GROUP BY receiver, giver
),
paid_back AS (
    -- the receiver's payments to the giver from the first gift to return_days after the
    -- last: bounded by party (both parties equal) and by time. A refund row that names
    -- no original (refund_of empty) counts as a payment back too.
    SELECT pr.receiver, pr.giver, b.id, b.ts, b.amount - coalesce(r.amount, 0) AS amount
    FROM pairs AS pr
    JOIN mv AS b
      ON b.payer_party = pr.receiver
     AND b.payee_party = pr.giver
     AND b.ts >= pr.first_ts
     AND b.ts <= pr.last_ts + $return_days * INTERVAL 1 DAY
    LEFT JOIN refunded AS r ON r.id = b.id
    WHERE (b.kind IN ('red_packet', 'group_red_packet', 'transfer') OR (b.kind = 'refund' AND b.refund_of IS NULL))
      AND b.status NOT IN ('refunded', 'returned', 'pending')
      AND b.amount - coalesce(r.amount, 0) > 0
),
candidates AS (
    -- step 1, one to one: a payment back of about the gift's amount (± return_tolerance)
    -- within return_days after it. Bounded by party and time.
    SELECT g.id AS gift_id, b.id AS back_id,
           row_number() OVER (PARTITION BY b.id ORDER BY g.ts DESC, g.id DESC) AS rank_for_back,
           row_number() OVER (PARTITION BY g.id ORDER BY b.ts, b.id) AS rank_for_gift
    FROM gifts AS g
    JOIN paid_back AS b
      ON b.receiver = g.receiver
     AND b.giver = g.giver
     AND b.ts >= g.ts
     AND b.ts <= g.ts + $return_days * INTERVAL 1 DAY
    WHERE b.amount >= g.amount * (1 - $return_tolerance)
      AND b.amount <= g.amount * (1 + $return_tolerance)
),
matched AS (
    -- a match both sides agree on (the payment's latest candidate gift and the gift's
    -- earliest candidate payment): that gift was given back
    SELECT gift_id, back_id FROM candidates WHERE rank_for_back = 1 AND rank_for_gift = 1
),
ledger AS (
    -- what is left: gifts and payments back that found no match of their own
    SELECT receiver, giver, id, ts, amount AS gift, 0 AS back
    FROM gifts WHERE id NOT IN (SELECT gift_id FROM matched)
    UNION ALL
    SELECT receiver, giver, id, ts, 0 AS gift, amount AS back
    FROM paid_back WHERE id NOT IN (SELECT back_id FROM matched)
),
bulk AS (
    -- step 2, in bulk: an unmatched gift is given back when the unmatched payments back
    -- in the return_days after it cover all unmatched gifts of the pair within
    -- return_days either side of it, less the tolerance (three 200-yuan packets given
    -- back as one 600-yuan transfer). Window sums per pair over time ranges: no join,
    -- linear in the pair's rows.
    SELECT id, gift,
           sum(gift) OVER (PARTITION BY receiver, giver ORDER BY ts
                           RANGE BETWEEN $return_days * INTERVAL 1 DAY PRECEDING AND $return_days * INTERVAL 1 DAY FOLLOWING) AS gifts_around,
           sum(back) OVER (PARTITION BY receiver, giver ORDER BY ts
                           RANGE BETWEEN CURRENT ROW AND $return_days * INTERVAL 1 DAY FOLLOWING) AS back_after
    FROM ledger
),
kept AS (
    -- the gifts the receiver kept
    SELECT g.*
    FROM gifts AS g
    JOIN bulk AS k ON k.id = g.id AND k.gift > 0
    WHERE k.back_after < k.gifts_around * (1 - $return_tolerance)
),
-- ---- end of the giving-back block
judged AS (
    -- only gifts whose give-back period ended inside the data can be judged
    SELECT k.*
    FROM kept AS k
    WHERE k.ts + $return_days * INTERVAL 1 DAY <= (SELECT max(ts) FROM mv)
      AND k.at_occasion = 0
),
given_back AS (
    -- judged gifts that were given back, for the reason (per pair)
    SELECT g.receiver, g.giver, count(*) AS n_returned, sum(g.amount) AS returned_amount
    FROM gifts AS g
    WHERE g.ts + $return_days * INTERVAL 1 DAY <= (SELECT max(ts) FROM mv)
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
    CAST(round(100 * $return_tolerance) AS INTEGER) AS tolerance_pct,
    coalesce(b.n_returned, 0) AS n_returned,
    coalesce(b.returned_amount, 0) AS returned_amount,
    CASE WHEN b.n_returned > 0
         THEN '；另有' || CAST(b.n_returned AS VARCHAR) || '笔共¥' || CASE WHEN b.returned_amount = round(b.returned_amount) THEN format('{:,}', CAST(b.returned_amount AS BIGINT)) ELSE format('{:,.2f}', b.returned_amount) END || '已按期退还，不计入'
         ELSE '' END AS returned_zh,
    CASE WHEN b.n_returned > 0
         THEN '; ' || CAST(b.n_returned AS VARCHAR) || ' more totalling ¥' || CASE WHEN b.returned_amount = round(b.returned_amount) THEN format('{:,}', CAST(b.returned_amount AS BIGINT)) ELSE format('{:,.2f}', b.returned_amount) END || ' were given back in time and are not counted'
         ELSE '' END AS returned_en
FROM per_pair AS pp
LEFT JOIN given_back AS b ON b.receiver = pp.receiver AND b.giver = pp.giver
LEFT JOIN people AS p ON p.person_id = pp.giver
