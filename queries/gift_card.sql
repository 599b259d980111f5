-- title = "Gift cards and prepaid cards around an official"
-- title_zh = "礼品卡、预付卡（电子礼品卡）送礼"
-- severity = "high"
-- regulation = "《中国共产党纪律处分条例》（2023）第九十七条（收受消费卡（券））、第九十八条（赠送消费卡（券））；《公职人员政务处分法》第三十四条；中央纪委2014-09-04（利用电子商务提供电子礼品预付卡纳入纠治“四风”）；七部门《关于规范商业预付卡管理的意见》（2011：公职人员不得收受商业预付卡，未登记的以同等数额现金论处）；《支付机构预付卡业务管理办法》（记名卡单张≤5000元，不记名卡单张≤1000元）"
-- rationale = """A prepaid or electronic gift card is cash that leaves no payee in the giver's bill: the card code is handed over out of sight (蟹卡蟹券, JD E卡 before 中秋 and 春节). Officials may accept no commercial prepaid card at all, and an unreported card counts as cash of the same value. The rule looks at kind = 'gift_card' movements that were not refunded or returned and fires on three branches, named in the reason: (1) to_official — a gift card moved to an official himself (from anyone but his family): any amount; (2) before_festival — a card bought by a subordinate or service object of an official within days_before days before, or during, one of the gift seasons (default 元旦, 春节, 端午, 中秋·国庆), when its recipient is unknown (a card merchant) or is the official or his family; (3) over_limit — any such card of more than anonymous_limit yuan (the 不记名 card cap, so a bigger one is registered or several cards), whatever the day. One finding per official and buyer/sender. High when branch 1 or 3 fired, medium for branch 2 alone."""
-- false_positives = ["A subordinate or service object buying cards for his own family or his own staff (the recipient is invisible when the payee is the card merchant)", "A company's bulk purchase of cards as staff welfare, bought by a service object's accountant", "Cards the official handed in to the unit's 廉政账户 or returned in person (not in the data)", "A gift card sent to an official by a friend of the family who is not on the roster as family"]
-- reason_zh = "{buyer_name}（{relation_zh}）涉及礼品卡/预付卡{txn_count}笔，共¥{total_amount}，单笔最高¥{max_card}。触发：{branches_zh}"
-- reason_en = "{txn_count} gift/prepaid card movement(s) by {buyer_name} ({relation_en}) totalling ¥{total_amount}, largest ¥{max_card}. Fired: {branches_en}"
-- internal = ["buyer", "relation_zh", "relation_en", "branches_zh", "branches_en"]
--
-- [params.days_before]
-- default = 15
-- description = "days before a gift season in which a card bought by a subordinate or service object counts as a festival gift (蟹卡 and moon-cake vouchers are bought in the fortnight before 中秋)"
-- [params.gift_seasons]
-- default = ["new_year", "spring_festival", "dragon_boat", "mid_autumn_national_day"]
-- description = "festive_days seasons at which cards are customary gifts: those the CCDI's 节点 notices target (元旦·春节, 端午, 中秋·国庆); not 情人节 / 520 / 七夕"
-- [params.anonymous_limit]
-- default = 1000.0
-- description = "the 不记名 prepaid-card cap in yuan (PBoC 2012): a single card above it, bought by a subordinate or service object, fires on any day"
-- [params.named_limit]
-- default = 5000.0
-- description = "the 记名 prepaid-card cap in yuan: above it the purchase is several cards at once; the reason says so and the score rises"
--
-- [labels.buyer_name]
-- zh = "购卡人"
-- en = "Buyer"
-- [labels.max_card]
-- zh = "最大单卡金额（元）"
-- en = "Largest card (yuan)"
-- [labels.n_official]
-- zh = "公职人员本人购卡笔数"
-- en = "Cards bought for the official"
-- [labels.n_festival]
-- zh = "节前购卡笔数"
-- en = "Cards bought before a festival"
-- [labels.n_limit]
-- zh = "超过卡额上限笔数"
-- en = "Cards over the limit"
-- [labels.seasons]
-- zh = "节日"
-- en = "Festivals"
-- [labels.family_recipients]
-- zh = "家属收卡人"
-- en = "Family recipients"

WITH cards AS (
    SELECT m.id, m.ts, m.day, m.payer_party, m.payer_person, m.payee_party, m.payee_person,
           m.amount - coalesce(r.amount, 0) AS amount
    FROM mv AS m
    LEFT JOIN refunded AS r ON r.id = m.id
    WHERE m.kind = 'gift_card'
      AND m.status NOT IN ('refunded', 'returned', 'pending')
      AND m.amount - coalesce(r.amount, 0) > 0
),
by_power AS (
    -- cards bought or sent by such a person whose recipient is unknown (a card merchant,
    -- an account nobody has named) or is the official or a member of his family; a card
    -- sent to someone else on the roster was not for this official
    SELECT c.*, w.official, w.relation
    FROM cards AS c
    JOIN power AS w ON w.giver = c.payer_person
    WHERE c.payee_person IS NULL
       OR c.payee_person = w.official
       OR EXISTS (
           SELECT 1 FROM rel AS f
           WHERE f.relation = 'family' AND f.person_id = c.payee_person AND f.other_id = w.official
       )
),
season_rows AS (
    SELECT DISTINCT day, season, season_zh FROM festive_days WHERE list_contains($gift_seasons, season)
),
season_spans AS (
    -- gaps and islands: consecutive days of one season are one occurrence of it
    SELECT season, max(season_zh) AS season_zh, min(day) AS first_day, max(day) AS last_day
    FROM (
        SELECT day, season, season_zh,
               day - CAST(row_number() OVER (PARTITION BY season ORDER BY day) AS INTEGER) AS run
        FROM season_rows
    ) AS t
    GROUP BY season, run
),
flagged AS (
    -- branch 1: a card moved to an official himself, not from his family
    SELECT c.id, c.ts, c.amount, c.payee_person AS official, c.payer_party AS buyer,
           w.relation, CAST(NULL AS VARCHAR) AS other_party,
           'to_official' AS branch, CAST(NULL AS VARCHAR) AS season_zh
    FROM cards AS c
    JOIN people AS p ON p.person_id = c.payee_person AND p.official
    LEFT JOIN power AS w ON w.giver = c.payer_person AND w.official = c.payee_person
    WHERE c.payer_party IS NOT NULL
      AND c.payer_party <> c.payee_party
      AND NOT EXISTS (
          SELECT 1 FROM rel AS f
          WHERE f.relation = 'family' AND f.person_id = c.payer_person AND f.other_id = c.payee_person
      )
    UNION ALL
    -- branch 2: bought by a subordinate / service object shortly before or during a gift season
    -- (a card against the few season spans: not a self-join of mv)
    SELECT b.id, b.ts, b.amount, b.official, b.payer_person, b.relation,
           CASE WHEN b.payee_person <> b.official THEN b.payee_person END,
           'before_festival', s.season_zh
    FROM by_power AS b
    JOIN season_spans AS s
      ON b.day >= s.first_day - $days_before AND b.day <= s.last_day
    UNION ALL
    -- branch 3: any single card above the 不记名 cap bought by such a person
    SELECT b.id, b.ts, b.amount, b.official, b.payer_person, b.relation,
           CASE WHEN b.payee_person <> b.official THEN b.payee_person END,
           'over_limit', CAST(NULL AS VARCHAR)
    FROM by_power AS b
    WHERE b.amount > $anonymous_limit
),
per_card AS (
    -- one row per card and official, whatever branches it fired
    SELECT f.official, f.buyer, f.id, max(f.ts) AS ts, max(f.amount) AS amount,
           max(f.relation) AS relation, max(f.other_party) AS other_party,
           max(coalesce(op.name, f.other_party)) AS other_name,
           max(CASE WHEN f.branch = 'to_official' THEN 1 ELSE 0 END) AS b_official,
           max(CASE WHEN f.branch = 'before_festival' THEN 1 ELSE 0 END) AS b_festival,
           max(CASE WHEN f.branch = 'over_limit' THEN 1 ELSE 0 END) AS b_limit,
           max(f.season_zh) AS season_zh
    FROM flagged AS f
    LEFT JOIN people AS op ON op.person_id = f.other_party
    GROUP BY f.official, f.buyer, f.id
),
per_pair AS (
    SELECT official, buyer,
           max(relation) AS relation,
           array_agg(DISTINCT other_party) AS other_parties,   -- may hold NULL: the engine drops it
           string_agg(DISTINCT other_name, '、') AS family_recipients,
           min(ts) AS start_ts, max(ts) AS end_ts, sum(amount) AS total_amount, count(*) AS txn_count,
           max(amount) AS max_card,
           array_agg(id) AS evidence,
           max(b_official) AS b_official, max(b_festival) AS b_festival, max(b_limit) AS b_limit,
           sum(b_official) AS n_official, sum(b_festival) AS n_festival, sum(b_limit) AS n_limit,
           array_to_string(list_sort(array_agg(DISTINCT season_zh)), '、') AS seasons
    FROM per_card
    GROUP BY official, buyer
)
SELECT
    pp.official AS subject,
    list_concat([pp.buyer], pp.other_parties) AS counterparties,
    CAST(NULL AS VARCHAR) AS window_name,
    pp.start_ts,
    pp.end_ts,
    pp.total_amount,
    pp.txn_count,
    pp.evidence,
    -- 80 for a card to the official, 70 over the 不记名 cap, 50 before a season; up to
    -- +20 as the total reaches the 记名 cap
    round(least(100, CASE WHEN pp.b_official = 1 THEN 80 WHEN pp.b_limit = 1 THEN 70 ELSE 50 END
                     + 20 * least(1, pp.total_amount / $named_limit)), 1) AS score,
    CASE WHEN pp.b_official = 1 OR pp.b_limit = 1 THEN 'high' ELSE 'medium' END AS severity,
    pp.buyer,
    coalesce(bp.name, pp.buyer) AS buyer_name,
    CASE pp.relation WHEN 'subordinate' THEN '下属' WHEN 'service_object' THEN '管理服务对象'
                     WHEN 'both' THEN '下属兼管理服务对象' ELSE '非家庭成员' END AS relation_zh,
    CASE pp.relation WHEN 'subordinate' THEN 'subordinate' WHEN 'service_object' THEN 'service object'
                     WHEN 'both' THEN 'subordinate and service object' ELSE 'not family' END AS relation_en,
    pp.max_card,
    pp.n_official,
    pp.n_festival,
    pp.n_limit,
    pp.seasons,
    coalesce(pp.family_recipients, '') AS family_recipients,
    concat_ws('；',
        CASE WHEN pp.b_official = 1 THEN '【转入本人】' || CAST(pp.n_official AS VARCHAR) || '笔（阈值：公职人员不得收受任何商业预付卡，任意金额）' END,
        CASE WHEN pp.b_festival = 1 THEN '【节前购卡】于' || pp.seasons || '前' || CAST($days_before AS VARCHAR) || '日内或节日期间'
                                          || CASE WHEN pp.family_recipients IS NOT NULL THEN '购卡转给其家属' || pp.family_recipients ELSE '购卡' END
                                          || '，共' || CAST(pp.n_festival AS VARCHAR) || '笔（阈值：节前' || CAST($days_before AS VARCHAR) || '日内，任意金额）' END,
        CASE WHEN pp.b_limit = 1 THEN '【超过不记名卡上限】单张超过¥' || CASE WHEN $anonymous_limit = round($anonymous_limit) THEN format('{:,}', CAST($anonymous_limit AS BIGINT)) ELSE format('{:,.2f}', $anonymous_limit) END || '的' || CAST(pp.n_limit AS VARCHAR) || '笔，最高超出¥'
                                       || CASE WHEN (pp.max_card - $anonymous_limit) = round((pp.max_card - $anonymous_limit)) THEN format('{:,}', CAST((pp.max_card - $anonymous_limit) AS BIGINT)) ELSE format('{:,.2f}', (pp.max_card - $anonymous_limit)) END
                                       || CASE WHEN pp.max_card > $named_limit THEN '，且超过记名卡上限¥' || CASE WHEN $named_limit = round($named_limit) THEN format('{:,}', CAST($named_limit AS BIGINT)) ELSE format('{:,.2f}', $named_limit) END || '（应为多张或批量购卡）' ELSE '' END END
    ) AS branches_zh,
    concat_ws('; ',
        CASE WHEN pp.b_official = 1 THEN '[to the official] ' || CAST(pp.n_official AS VARCHAR) || ' card(s) moved to him (threshold: officials may accept no commercial prepaid card, any amount)' END,
        CASE WHEN pp.b_festival = 1 THEN '[before a festival] ' || CAST(pp.n_festival AS VARCHAR) || ' card(s) bought within ' || CAST($days_before AS VARCHAR) || ' days before or during ' || pp.seasons
                                          || CASE WHEN pp.family_recipients IS NOT NULL THEN ' and passed to his family member ' || pp.family_recipients ELSE '' END
                                          || ' (threshold: ' || CAST($days_before AS VARCHAR) || ' days, any amount)' END,
        CASE WHEN pp.b_limit = 1 THEN '[above the anonymous-card cap] ' || CAST(pp.n_limit AS VARCHAR) || ' single card(s) above ¥' || CASE WHEN $anonymous_limit = round($anonymous_limit) THEN format('{:,}', CAST($anonymous_limit AS BIGINT)) ELSE format('{:,.2f}', $anonymous_limit) END
                                       || ', the largest by ¥' || CASE WHEN (pp.max_card - $anonymous_limit) = round((pp.max_card - $anonymous_limit)) THEN format('{:,}', CAST((pp.max_card - $anonymous_limit) AS BIGINT)) ELSE format('{:,.2f}', (pp.max_card - $anonymous_limit)) END
                                       || CASE WHEN pp.max_card > $named_limit THEN ', beyond even the registered-card cap of ¥' || CASE WHEN $named_limit = round($named_limit) THEN format('{:,}', CAST($named_limit AS BIGINT)) ELSE format('{:,.2f}', $named_limit) END || ' (several cards or a bulk purchase)' ELSE '' END END
    ) AS branches_en
FROM per_pair AS pp
LEFT JOIN people AS bp ON bp.person_id = pp.buyer
