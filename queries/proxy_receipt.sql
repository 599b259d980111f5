-- title = "Gifts to an official's family from his subordinates or service objects (proxy receipt)"
-- title_zh = "下属、管理服务对象向公职人员家属送红包、转账（家属代收）"
-- severity = "high"
-- regulation = "《中国共产党纪律处分条例》（2023）第九十七条（收受礼金）、第九十八条（向公职人员及其配偶、子女及其配偶等亲属和其他特定关系人赠送礼金）；《公职人员政务处分法》第三十四条；澜沧民政局长案（春节、中秋“给孩子红包”计入收受礼金）"
-- rationale = """Money meant for an official is often paid to his spouse or children: 第九十八条 names gifts to 配偶、子女及其配偶等亲属 expressly, and 拜年 / 压岁 packets "for the child" from a contractor were counted as the official's own gifts in the 澜沧 case. The rule takes every accepted packet or transfer from a person whom relations.csv names an official's subordinate or service object to a family member of that official (not to the official himself, and not from the giver's own relatives), on any day, festivals included. A gift does not count when it was refunded, returned or is still pending, or when the family member gave it back within return_days (a linked refund, or a payment back of about the same amount, ± return_tolerance, matched one to one first and then in bulk: the scan table given_back, [giving_back] in rpa.toml). Gifts around a declared occasion of the official or his family (a child's wedding) are left to occasion_collection. One finding per official and family member; any amount counts; high from high_total or high_count gifts, low below low_total."""
-- false_positives = ["The family member's own dealings with the giver: pay for work, goods sold, a loan repaid, rent (read the memo; the giver may be a client of the spouse's business)", "A giver who is also the family member's own relative or close friend (add the relation)", "Gifts returned by the official himself rather than by the family member, or in cash (not matched)", "Reciprocal lucky money between two families' children at New Year, when the official's family paid the giver's family back through another member"]
-- reason_zh = "{official_name}的家属{family_name}（{family_member}）收受其{relation_zh}{n_givers}人（{giver_names}）红包、转账{txn_count}笔，共¥{total_amount}，未见在{return_days}日内退还（阈值：任意金额，超出¥{total_amount}；合计≥¥{high_total}或≥{high_count}笔为高风险）"
-- reason_en = "{official_name}'s family member {family_name} ({family_member}) kept {txn_count} packet(s)/transfer(s) totalling ¥{total_amount} from {n_givers} {relation_en} of {official_name} ({giver_names}), with no give-back within {return_days} days in the data (threshold: any amount, exceeded by ¥{total_amount}; high from ¥{high_total} or {high_count} gifts)"
-- internal = ["family_member", "givers", "relation_zh", "relation_en"]
--
-- [params.high_total]
-- default = 1000.0
-- description = "total per official and family member, in yuan, from which the finding is high (five full 200-yuan packets; also the 不记名 prepaid-card line)"
-- [params.high_count]
-- default = 5
-- description = "number of gifts per official and family member from which the finding is high"
-- [params.low_total]
-- default = 50.0
-- description = "total in yuan below which the finding is low (a token lucky-money packet for a child; still reported)"
--
-- [labels.family_name]
-- zh = "代收家属"
-- en = "Family member who received"
-- [labels.official_name]
-- zh = "公职人员"
-- en = "Official"
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
-- [labels.return_days]
-- zh = "退还期限（天）"
-- en = "Give-back period (days)"

WITH proxies AS (
    -- giver → family member of the official (rel lists family both ways round), where
    -- the giver is not the family member's own relative
    SELECT w.giver, w.official, w.relation, f.person_id AS family_member
    FROM power AS w
    JOIN rel AS f ON f.relation = 'family' AND f.other_id = w.official
    WHERE f.person_id <> w.giver
      AND NOT EXISTS (
          SELECT 1 FROM rel AS ff
          WHERE ff.relation = 'family' AND ff.person_id = w.giver AND ff.other_id = f.person_id
      )
),
received AS (
    -- each accepted gift from such a giver to such a family member, once (whichever
    -- officials it concerns; the scan table gifts: packets, group-packet shares and
    -- transfers not refunded, returned or pending, net of linked refunds; AA shares are
    -- no gift): the giving-back ledger (given_back) is between family member and giver
    SELECT g.id, g.ts, g.day, g.receiver, g.giver_person AS giver, g.amount
    FROM gifts AS g
    WHERE NOT g.aa
      AND EXISTS (
          SELECT 1 FROM proxies AS x
          WHERE x.giver = g.giver_person AND x.family_member = g.receiver
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
attributed AS (
    -- each kept gift for each official it concerns; gifts around a declared occasion of
    -- the official or his family are occasion_collection's
    SELECT k.*, x.official, x.relation
    FROM kept AS k
    JOIN proxies AS x ON x.giver = k.giver AND x.family_member = k.receiver
    WHERE NOT EXISTS (
        SELECT 1 FROM occasion_owners AS o
        WHERE o.person_id = x.official AND k.day BETWEEN o.day_from AND o.day_to
    )
),
per_member AS (
    SELECT a.official, a.receiver AS family_member,
           array_agg(DISTINCT a.giver) AS givers,
           list_sort(array_agg(DISTINCT coalesce(gp.name, a.giver))) AS giver_names,   -- sorted: the same reason on every scan
           count(DISTINCT a.giver) AS n_givers,
           sum(CASE WHEN a.relation IN ('subordinate', 'both') THEN 1 ELSE 0 END) AS gifts_from_subordinates,
           sum(CASE WHEN a.relation IN ('service_object', 'both') THEN 1 ELSE 0 END) AS gifts_from_service_objects,
           min(a.ts) AS start_ts, max(a.ts) AS end_ts, sum(a.amount) AS total_amount, count(*) AS txn_count,
           array_agg(a.id) AS evidence
    FROM attributed AS a
    LEFT JOIN people AS gp ON gp.person_id = a.giver
    GROUP BY a.official, a.receiver
)
SELECT
    pm.official AS subject,
    list_concat(pm.givers, [pm.family_member]) AS counterparties,
    CAST(NULL AS VARCHAR) AS window_name,
    pm.start_ts,
    pm.end_ts,
    pm.total_amount,
    pm.txn_count,
    pm.evidence,
    -- 50 for any gift through the family, up to +30 as the total reaches high_total,
    -- +4 per further gift (≤ 20)
    round(50 + 30 * least(1, pm.total_amount / $high_total) + least(20, 4 * (pm.txn_count - 1)), 1) AS score,
    CASE WHEN pm.total_amount >= $high_total OR pm.txn_count >= $high_count THEN 'high'
         WHEN pm.total_amount < $low_total THEN 'low'
         ELSE 'medium' END AS severity,
    pm.family_member,
    coalesce(fp.name, pm.family_member) AS family_name,
    coalesce(op.name, pm.official) AS official_name,
    pm.givers,
    pm.giver_names,
    pm.n_givers,
    pm.gifts_from_subordinates,
    pm.gifts_from_service_objects,
    CASE WHEN pm.gifts_from_service_objects = 0 THEN '下属'
         WHEN pm.gifts_from_subordinates = 0 THEN '管理服务对象'
         ELSE '下属、管理服务对象' END AS relation_zh,
    CASE WHEN pm.gifts_from_service_objects = 0 THEN 'subordinate(s)'
         WHEN pm.gifts_from_subordinates = 0 THEN 'service object(s)'
         ELSE 'subordinate(s) and service object(s)' END AS relation_en,
    (SELECT return_days FROM giving_back_settings) AS return_days
FROM per_member AS pm
LEFT JOIN people AS fp ON fp.person_id = pm.family_member
LEFT JOIN people AS op ON op.person_id = pm.official
