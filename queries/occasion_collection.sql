-- title = "Collecting gifts from subordinates and service objects at one's own wedding, funeral or celebration (借婚丧喜庆事宜敛财)"
-- title_zh = "借婚丧喜庆事宜收受下属、管理服务对象礼金（借机敛财）"
-- severity = "high"
-- regulation = "《中国共产党纪律处分条例》（2023）关于操办婚丧喜庆事宜、借机敛财的条款（2003年版第八十一条；2023年版条号待核）及第九十七条（收受礼金）；《公职人员政务处分法》第三十四条；中央纪委法规室：婚丧喜庆事宜指结婚、丧事、父母/配偶/子女生日、子女上大学、乔迁新居等，借机敛财的不论是否大操大办均应处理"
-- rationale = """A wedding, a funeral, a parent's birthday, a child's entrance to university or a house move is the one occasion on which an official may receive 礼金 from relatives and friends; taking it from many people he manages or serves is 借机敛财, punished whether or not the event was lavish. For every occasion declared in rpa.toml [[events]] of an official or of a member of his family (± the event's days), the rule sums the accepted packets and transfers paid to the official or to his family by persons whom relations.csv names his subordinates or service objects (not their own relatives). A gift does not count when it was refunded, returned or is still pending, or when it was given back within return_days (a linked refund, or a payment back of about the same amount, ± return_tolerance, by the person who received it, matched one to one first and then in bulk: the scan table given_back, [giving_back] in rpa.toml): returning 礼金 after a wedding is the correct conduct. The occasion is reported when at least min_givers distinct subordinates/service objects gave, or when their gifts reach min_total. High when both thresholds are passed, medium when one is."""
-- false_positives = ["A subordinate or service object who is also a close relative or an old friend of the family (add the family relation if the investigators accept it)", "Gifts the official returned in cash or handed to the unit's 廉政账户 after the event (not in the data)", "Payments to the family for the banquet itself (a caterer who is a service object) or AA shares of a shared trip", "An occasion whose declared days are too wide, catching festival or ordinary gifts (check [[events]] days)"]
-- reason_zh = "借{owner_zh}{occasion_owner_label}的{kind_zh}（{occasion_day}，前后{occasion_days}日）收受{relation_zh}{n_givers}人（{giver_names}）礼金{txn_count}笔，共¥{total_amount}，未见退还（阈值：≥{min_givers}人或合计≥¥{min_total}；{excess_zh}）"
-- reason_en = "Around the {kind_en} of {owner_en} {occasion_owner_label} ({occasion_day}, ± {occasion_days} days) kept {txn_count} gift(s) totalling ¥{total_amount} from {n_givers} {relation_en} ({giver_names}), none given back (thresholds: ≥ {min_givers} givers or a total ≥ ¥{min_total}; {excess_en})"
-- internal = ["occasion_owner", "occasion_kind", "kind_zh", "kind_en", "owner_zh", "owner_en", "occasion_en", "relation_zh", "relation_en", "excess_zh", "excess_en"]
--
-- [params.min_givers]
-- default = 3
-- description = "distinct subordinates / service objects whose gifts at one occasion make it a collection: one or two may be personal friends, three or more is using the office"
-- [params.min_total]
-- default = 2000.0
-- description = "total in yuan from subordinates / service objects at one occasion that is reported whatever the number of givers (two to four customary 500–1,000-yuan 礼金)"
--
-- [labels.occasion_owner_name]
-- zh = "事主"
-- en = "Occasion of"
-- [labels.occasion_day]
-- zh = "日期"
-- en = "Date"
-- [labels.occasion_days]
-- zh = "前后计算天数"
-- en = "Days either side"
-- [labels.giver_names]
-- zh = "送礼人"
-- en = "Givers"
-- [labels.n_givers]
-- zh = "送礼人数"
-- en = "Number of givers"
-- [labels.gifts_from_subordinates]
-- zh = "来自下属的笔数"
-- en = "Gifts from subordinates"
-- [labels.gifts_from_service_objects]
-- zh = "来自管理服务对象的笔数"
-- en = "Gifts from service objects"

WITH household AS (
    -- the official and his family: who may receive the gifts of his occasion
    SELECT official, official AS member FROM (SELECT DISTINCT official FROM power) AS o
    UNION
    SELECT w.official, f.person_id
    FROM (SELECT DISTINCT official FROM power) AS w
    JOIN rel AS f ON f.relation = 'family' AND f.other_id = w.official
),
own_occasions AS (
    -- occasions of the official himself or of a member of his family; the declared day
    -- is the middle of [day_from, day_to] (events are declared ± days)
    SELECT h.official, o.person_id AS owner, o.kind, o.day_from, o.day_to,
           o.day_from + CAST(date_diff('day', o.day_from, o.day_to) / 2 AS INTEGER) AS occasion_day,
           CAST(date_diff('day', o.day_from, o.day_to) / 2 AS INTEGER) AS occasion_days
    FROM occasions AS o
    JOIN household AS h ON h.member = o.person_id
),
candidates_in AS (
    -- giver → receiver pairs that concern an official: a subordinate / service object of
    -- his paying him or his family, and not paying his own relative
    SELECT DISTINCT w.giver, h.member AS receiver, w.official, w.relation
    FROM power AS w
    JOIN household AS h ON h.official = w.official
    WHERE h.member <> w.giver
      AND NOT EXISTS (
          SELECT 1 FROM rel AS ff
          WHERE ff.relation = 'family' AND ff.person_id = w.giver AND ff.other_id = h.member
      )
),
received AS (
    -- each accepted gift on such a pair, once (whichever officials it concerns; the scan
    -- table gifts: packets, group-packet shares and transfers not refunded, returned or
    -- pending, net of linked refunds; AA shares are no gift): the giving-back ledger
    -- (given_back) is between the person who received it and the giver
    SELECT g.id, g.ts, g.day, g.receiver, g.giver_person AS giver, g.amount
    FROM gifts AS g
    WHERE NOT g.aa
      AND EXISTS (
          SELECT 1 FROM candidates_in AS c
          WHERE c.giver = g.giver_person AND c.receiver = g.receiver
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
at_occasion AS (
    -- each kept gift for each occasion of the official (or his family) it falls in
    -- (kept gifts against the few declared occasions: not a self-join of mv)
    SELECT k.id, k.ts, k.amount, k.giver, k.receiver, c.relation, c.official,
           o.owner, o.kind, o.occasion_day, o.occasion_days, o.day_from, o.day_to
    FROM kept AS k
    JOIN candidates_in AS c ON c.giver = k.giver AND c.receiver = k.receiver
    JOIN own_occasions AS o ON o.official = c.official AND k.day BETWEEN o.day_from AND o.day_to
),
per_occasion AS (
    SELECT a.official, a.owner, a.kind, a.occasion_day, a.day_from,
           max(a.occasion_days) AS occasion_days,
           array_agg(DISTINCT a.giver) AS givers,
           array_agg(DISTINCT CASE WHEN a.receiver <> a.official THEN a.receiver END) AS receivers,   -- family receivers; NULL is dropped by the engine
           list_sort(array_agg(DISTINCT coalesce(gp.name, a.giver))) AS giver_names,   -- sorted: the same reason on every scan
           count(DISTINCT a.giver) AS n_givers,
           sum(CASE WHEN a.relation IN ('subordinate', 'both') THEN 1 ELSE 0 END) AS gifts_from_subordinates,
           sum(CASE WHEN a.relation IN ('service_object', 'both') THEN 1 ELSE 0 END) AS gifts_from_service_objects,
           min(a.ts) AS start_ts, max(a.ts) AS end_ts, sum(a.amount) AS total_amount, count(*) AS txn_count,
           array_agg(a.id) AS evidence
    FROM at_occasion AS a
    LEFT JOIN people AS gp ON gp.person_id = a.giver
    GROUP BY a.official, a.owner, a.kind, a.occasion_day, a.day_from
    HAVING count(DISTINCT a.giver) >= $min_givers OR sum(a.amount) >= $min_total
),
labelled AS (
    SELECT po.*,
           CASE po.kind WHEN 'wedding' THEN '婚礼' WHEN 'funeral' THEN '丧事' WHEN 'birth' THEN '生育（满月）'
                        WHEN 'birthday' THEN '生日（寿宴）' WHEN 'housewarming' THEN '乔迁' WHEN 'school' THEN '升学'
                        ELSE '喜庆事宜' END AS kind_zh,
           CASE po.kind WHEN 'wedding' THEN 'wedding' WHEN 'funeral' THEN 'funeral' WHEN 'birth' THEN 'birth'
                        WHEN 'birthday' THEN 'birthday' WHEN 'housewarming' THEN 'house-warming' WHEN 'school' THEN 'school entrance'
                        ELSE 'occasion' END AS kind_en,
           -- the owner himself is a value (occasion_owner): the reason labels him
           CASE WHEN po.owner = po.official THEN '本人' ELSE '家属' END AS owner_zh,
           CASE WHEN po.owner = po.official THEN 'the official' ELSE 'his family member' END AS owner_en,
           coalesce(op.name, po.owner) AS owner_name
    FROM per_occasion AS po
    LEFT JOIN people AS op ON op.person_id = po.owner
)
SELECT
    official AS subject,
    list_concat(givers, receivers) AS counterparties,
    kind_zh || ' ' || CAST(occasion_day AS VARCHAR) AS window_name,
    start_ts,
    end_ts,
    total_amount,
    txn_count,
    evidence,
    -- 50 at a threshold, up to +25 as the givers reach twice min_givers and +25 as the
    -- total reaches twice min_total
    round(50 + 25 * least(1, n_givers / (2.0 * $min_givers)) + 25 * least(1, total_amount / (2 * $min_total)), 1) AS score,
    CASE WHEN n_givers >= $min_givers AND total_amount >= $min_total THEN 'high' ELSE 'medium' END AS severity,
    owner AS occasion_owner,
    owner_name AS occasion_owner_name,
    kind AS occasion_kind,
    occasion_day,
    occasion_days,
    kind_zh,
    owner_zh,
    owner_en,
    kind_en,
    giver_names,
    n_givers,
    gifts_from_subordinates,
    gifts_from_service_objects,
    CASE WHEN gifts_from_service_objects = 0 THEN '下属'
         WHEN gifts_from_subordinates = 0 THEN '管理服务对象'
         ELSE '下属、管理服务对象' END AS relation_zh,
    CASE WHEN gifts_from_service_objects = 0 THEN 'subordinate(s)'
         WHEN gifts_from_subordinates = 0 THEN 'service object(s)'
         ELSE 'subordinate(s) and service object(s)' END AS relation_en,
    concat_ws('，',
        CASE WHEN n_givers > $min_givers THEN '人数超出' || CAST(n_givers - $min_givers AS VARCHAR) || '人'
             WHEN n_givers = $min_givers THEN '人数恰达阈值' END,
        CASE WHEN total_amount > $min_total THEN '金额超出¥' || CASE WHEN (total_amount - $min_total) = round((total_amount - $min_total)) THEN format('{:,}', CAST((total_amount - $min_total) AS BIGINT)) ELSE format('{:,.2f}', (total_amount - $min_total)) END
             WHEN total_amount = $min_total THEN '金额恰达阈值' END
    ) AS excess_zh,
    concat_ws(', ',
        CASE WHEN n_givers > $min_givers THEN CAST(n_givers - $min_givers AS VARCHAR) || ' giver(s) over'
             WHEN n_givers = $min_givers THEN 'givers exactly at the threshold' END,
        CASE WHEN total_amount > $min_total THEN 'total exceeded by ¥' || CASE WHEN (total_amount - $min_total) = round((total_amount - $min_total)) THEN format('{:,}', CAST((total_amount - $min_total) AS BIGINT)) ELSE format('{:,.2f}', (total_amount - $min_total)) END
             WHEN total_amount = $min_total THEN 'total exactly at the threshold' END
    ) AS excess_en
FROM labelled
