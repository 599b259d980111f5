-- title = "Festival gifts to an official from his subordinates or service objects"
-- title_zh = "逢年过节收受下属、管理服务对象红包、转账"
-- severity = "medium"
-- regulation = "《中国共产党纪律处分条例》（2023）第九十七条（收受可能影响公正执行公务的礼金）；《公职人员政务处分法》第三十四条；中央八项规定精神及中央纪委元旦·春节、中秋·国庆等节点通知（严禁收受管理服务对象微信红包、电子礼金）；湖北省纪委政策法规研究室：收受下属、管理服务对象红包“不论金额多大”"
-- rationale = """Festivals are the 节点 at which the CCDI's notices forbid electronic red packets from 管理服务对象 and subordinates, and gifts from them are not 礼尚往来 whatever the amount (澜沧: 19 拜年 gifts from a contractor at 春节、中秋、国庆 → 严重警告 + 记大过). The rule takes every packet or transfer an official accepted from a person whom relations.csv names his subordinate or service object (not also his family), keeps the ones that fall in a festive season (festive_days; a day in two seasons, such as 2-14 inside 春节, goes to the longer season), and reports them per official and season. Any amount counts. A gift does not count when it was refunded, returned or is still pending, or when the official gave it back within return_days ([giving_back] in rpa.toml; the scan table given_back, one ledger per official and giver over all the gifts between them, festive or not): through a linked refund, or by paying the giver back about as much (± return_tolerance): payments are matched to gifts one to one by amount first, then what is left is judged in bulk (three 200-yuan packets given back as one 600-yuan transfer), so one repayment cannot excuse two gifts. Gifts around a declared occasion of the official or his family (a wedding during the Spring Festival) are left to occasion_collection. Severity is high at high_total or high_count, low below low_total (a grabbed share of a work-group packet), medium otherwise; the score grows with the total and the number of gifts. The reason also says how unusual the season is for him: its gifts against his monthly average of gifts from subordinates and service objects over the up to 12 months before it (said from three months of data)."""
-- false_positives = ["A relative or old friend who is also listed as a subordinate (add the family relation, or remove the subordinate one, if the investigators accept it)", "Reimbursement of an expense the official advanced for the unit, or an AA share whose memo does not say so", "A return made in cash, through a spouse, or into the unit's 廉政账户, which the data does not show", "A small share grabbed from a work-group packet that a subordinate posted for everyone (reported as low below low_total)"]
-- reason_zh = "{window_name}期间（{season_first}至{season_last}）收受{relation_zh}{n_givers}人（{giver_names}）红包、转账{txn_count}笔，共¥{total_amount}（阈值：任意金额，超出¥{total_amount}；合计≥¥{high_total}或≥{high_count}笔为高风险，{level_zh}），未见在{return_days}日内退还{habit_zh}"
-- reason_en = "During {window_name} ({season_first} to {season_last}) accepted {txn_count} packet(s)/transfer(s) totalling ¥{total_amount} from {n_givers} {relation_en} ({giver_names}) (threshold: any amount, exceeded by ¥{total_amount}; high from ¥{high_total} or {high_count} gifts, {level_en}), with no give-back within {return_days} days in the data{habit_en}"
-- internal = ["season", "season_en", "relation_zh", "relation_en", "level_zh", "level_en", "habit_zh", "habit_en"]
--
-- [params.high_total]
-- default = 1000.0
-- description = "total in yuan per official and season from which the finding is high (five full 200-yuan packets; also the 不记名 prepaid-card line)"
-- [params.high_count]
-- default = 5
-- description = "number of gifts per official and season from which the finding is high (a habit, not one greeting)"
-- [params.low_total]
-- default = 50.0
-- description = "total in yuan below which the finding is low: grabbed shares and token greetings (still reported: 不论金额多大)"
--
-- [labels.season_first]
-- zh = "节期开始"
-- en = "Season from"
-- [labels.season_last]
-- zh = "节期结束"
-- en = "Season to"
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
-- [labels.habit_monthly_avg]
-- zh = "节前月均（元）"
-- en = "Monthly average before (yuan)"
-- [labels.habit_months]
-- zh = "比较月数"
-- en = "Months compared"
-- [labels.habit_ratio]
-- zh = "为月均的倍数"
-- en = "Times the monthly average"

WITH received AS (
    -- every accepted gift from such a giver, on any day (the scan table gifts: packets,
    -- group-packet shares and transfers not refunded, returned or pending, net of linked
    -- refunds; AA shares are no gift). Kept or not is decided by the scan's ledger,
    -- given_back, over all gifts of the pair; the festival filter comes after
    SELECT g.id, g.ts, g.day, w.official AS receiver, w.giver, w.relation, g.amount,
           CASE WHEN EXISTS (
               SELECT 1 FROM occasion_owners AS o
               WHERE o.person_id = w.official AND g.day BETWEEN o.day_from AND o.day_to
           ) THEN 1 ELSE 0 END AS at_occasion
    FROM gifts AS g
    JOIN power AS w ON w.giver = g.giver_person AND w.official = g.receiver
    WHERE NOT g.aa
),
-- ---- giving back: the scan table given_back holds every gift its receiver gave back
-- ---- (one ledger per receiver and giver over all their gifts; [giving_back] in
-- ---- rpa.toml): the rule's gifts not in it were kept
kept AS (
    SELECT g.*
    FROM received AS g
    WHERE NOT EXISTS (SELECT 1 FROM given_back AS b WHERE b.id = g.id)
),
season_rows AS (
    SELECT DISTINCT day, season, season_zh, season_en FROM festive_days
),
season_runs AS (
    -- gaps and islands: consecutive days of one season share day − row number, so each
    -- occurrence of a season (春节 2025, 春节 2026 …) is one run
    SELECT day, season, season_zh, season_en,
           day - CAST(row_number() OVER (PARTITION BY season ORDER BY day) AS INTEGER) AS run
    FROM season_rows
),
season_spans AS (
    SELECT season, run, min(day) AS first_day, max(day) AS last_day, count(*) AS n_days
    FROM season_runs
    GROUP BY season, run
),
day_season AS (
    -- one season per day: a day in two seasons (2-14 inside 春节) goes to the longer one,
    -- so no gift is counted twice
    SELECT day, season, season_zh, season_en, first_day, last_day
    FROM (
        SELECT r.day, r.season, r.season_zh, r.season_en, s.first_day, s.last_day,
               row_number() OVER (PARTITION BY r.day ORDER BY s.n_days DESC, r.season) AS pick
        FROM season_runs AS r
        JOIN season_spans AS s ON s.season = r.season AND s.run = r.run
    ) AS t
    WHERE pick = 1
),
festival AS (
    SELECT k.*, d.season, d.season_zh, d.season_en, d.first_day, d.last_day, coalesce(p.name, k.giver) AS giver_name
    FROM kept AS k
    JOIN day_season AS d ON d.day = k.day
    LEFT JOIN people AS p ON p.person_id = k.giver
    -- gifts at his own (or his family's) declared occasion are occasion_collection's
    WHERE k.at_occasion = 0
),
per_season AS (
    SELECT receiver AS official, season, first_day,
           max(season_zh) AS season_zh, max(season_en) AS season_en, max(last_day) AS last_day,
           array_agg(DISTINCT giver) AS givers,
           list_sort(array_agg(DISTINCT giver_name)) AS giver_names,   -- sorted: the same reason on every scan
           count(DISTINCT giver) AS n_givers,
           min(ts) AS start_ts, max(ts) AS end_ts,
           sum(amount) AS total_amount, count(*) AS txn_count,
           array_agg(id) AS evidence,
           sum(CASE WHEN relation IN ('subordinate', 'both') THEN 1 ELSE 0 END) AS gifts_from_subordinates,
           sum(CASE WHEN relation IN ('service_object', 'both') THEN 1 ELSE 0 END) AS gifts_from_service_objects
    FROM festival
    GROUP BY receiver, season, first_day
),
habit AS (
    -- how unusual this is for him: his gifts from subordinates and service objects (every
    -- giver, any day) in the up to 12 months before the season that the data covers, as
    -- a monthly average, against this season's
    SELECT s.official, s.season, s.first_day,
           least(12, date_diff('month', (SELECT date_trunc('month', min(ts)) FROM mv), date_trunc('month', s.first_day))) AS habit_months,
           coalesce(sum(g.amount), 0) AS habit_before
    FROM per_season AS s
    LEFT JOIN received AS g
      ON g.receiver = s.official
     AND g.ts >= date_trunc('month', s.first_day) - INTERVAL 12 MONTH
     AND g.ts < date_trunc('month', s.first_day)
    GROUP BY s.official, s.season, s.first_day
)
SELECT
    per_season.official AS subject,
    givers AS counterparties,
    season_zh AS window_name,
    start_ts,
    end_ts,
    total_amount,
    txn_count,
    evidence,
    -- 40 for any gift, up to +40 as the total reaches high_total, +4 per further gift (≤ 20)
    round(40 + 40 * least(1, total_amount / $high_total) + least(20, 4 * (txn_count - 1)), 1) AS score,
    CASE WHEN total_amount >= $high_total OR txn_count >= $high_count THEN 'high'
         WHEN total_amount < $low_total THEN 'low'
         ELSE 'medium' END AS severity,
    per_season.season,
    season_en,
    per_season.first_day AS season_first,
    last_day AS season_last,
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
    CASE WHEN total_amount >= $high_total OR txn_count >= $high_count THEN '已达高风险'
         WHEN total_amount < $low_total THEN '低于¥' || CASE WHEN $low_total = round($low_total) THEN format('{:,}', CAST($low_total AS BIGINT)) ELSE format('{:,.2f}', $low_total) END || '，低风险'
         ELSE '中风险' END AS level_zh,
    CASE WHEN total_amount >= $high_total OR txn_count >= $high_count THEN 'reached: high'
         WHEN total_amount < $low_total THEN 'below ¥' || CASE WHEN $low_total = round($low_total) THEN format('{:,}', CAST($low_total AS BIGINT)) ELSE format('{:,.2f}', $low_total) END || ': low'
         ELSE 'medium' END AS level_en,
    (SELECT return_days FROM giving_back_settings) AS return_days,
    CASE WHEN h.habit_months > 0 THEN round((h.habit_before / h.habit_months), 2) END AS habit_monthly_avg,
    h.habit_months,
    CASE WHEN h.habit_months > 0 AND h.habit_before > 0 THEN round((total_amount / (h.habit_before / h.habit_months)), 1) END AS habit_ratio,
    -- said only where it means something: three months or more of data before the season
    CASE WHEN h.habit_months < 3 THEN ''
         WHEN h.habit_before = 0 THEN '；节前' || CAST(h.habit_months AS VARCHAR) || '个月未收受过下属、管理服务对象红包、转账'
         ELSE '；本节期所收为其节前' || CAST(h.habit_months AS VARCHAR) || '个月月均（¥' || CASE WHEN round((h.habit_before / h.habit_months), 2) = round(round((h.habit_before / h.habit_months), 2)) THEN format('{:,}', CAST(round((h.habit_before / h.habit_months), 2) AS BIGINT)) ELSE format('{:,.2f}', round((h.habit_before / h.habit_months), 2)) END || '）的' || CASE WHEN round((total_amount / (h.habit_before / h.habit_months)), 1) = round((total_amount / (h.habit_before / h.habit_months))) THEN CAST(CAST(round((total_amount / (h.habit_before / h.habit_months))) AS BIGINT) AS VARCHAR) ELSE format('{:.1f}', (total_amount / (h.habit_before / h.habit_months))) END || '倍' END AS habit_zh,
    CASE WHEN h.habit_months < 3 THEN ''
         WHEN h.habit_before = 0 THEN '; none from subordinates or service objects in the ' || CAST(h.habit_months AS VARCHAR) || ' months before'
         ELSE '; this season''s gifts are ' || CASE WHEN round((total_amount / (h.habit_before / h.habit_months)), 1) = round((total_amount / (h.habit_before / h.habit_months))) THEN CAST(CAST(round((total_amount / (h.habit_before / h.habit_months))) AS BIGINT) AS VARCHAR) ELSE format('{:.1f}', (total_amount / (h.habit_before / h.habit_months))) END || '× his monthly average of the ' || CAST(h.habit_months AS VARCHAR)
              || ' months before (¥' || CASE WHEN round((h.habit_before / h.habit_months), 2) = round(round((h.habit_before / h.habit_months), 2)) THEN format('{:,}', CAST(round((h.habit_before / h.habit_months), 2) AS BIGINT)) ELSE format('{:,.2f}', round((h.habit_before / h.habit_months), 2)) END || ')' END AS habit_en
FROM per_season
JOIN habit AS h ON h.official = per_season.official AND h.season = per_season.season AND h.first_day = per_season.first_day
