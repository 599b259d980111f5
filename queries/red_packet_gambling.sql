-- title = "Red-packet gambling: rounds of group packets minutes apart with payouts or a chain"
-- title_zh = "红包赌博（扫雷、接龙等）：数分钟一轮的群红包，伴随倍数结算或接龙"
-- severity = "medium"
-- regulation = "《公职人员政务处分法》第四十条第一款第（三）项（参与赌博：警告、记过或者记大过，情节较重的降级或者撤职，情节严重的开除）、第二款（组织赌博：撤职或者开除）；《中国共产党纪律处分条例》（2023）关于党员违法行为的一般条款（依据公安机关处罚认定的事实处理，条号须按2023年版原文核对）；《治安管理处罚法》（2026年施行修订版）第八十二条；《刑法》第三百零三条（赌博罪、开设赌场罪）"
-- rationale = """In 扫雷 the banker posts 拼手气 group packets of a fixed total and whoever grabs an amount ending in the mine digit pays him 1–2 × the total; in 接龙 the best (or worst) grabber must send the next packet; rounds come every 1–5 minutes for hours (domain.md §2.1–2.2; 微山, 奉贤, 绍兴, 交城 cases). The rule groups each sender's group packets (one round per packet_id; the sender's own row, which has no payee, gives the total) into sessions of rounds at most max_gap_minutes apart, and for a session of at least min_rounds rounds checks six signals: tempo (the session itself), a fixed stake (the same total in min_equal_rounds rounds), settlements (payments to the sender of k × a round's total within settle_minutes after it, k from payout_multiples), a chain (rounds sent right after the sender grabbed someone else's packet), stable players (the same grabbers in most rounds) and a net win (money in during the session above money sent). Gambling needs money that comes back on the outcome, so a session fires only with settlements or a chain — a boss's five equal packets at the annual dinner do not — and only with min_signals signals; money from the sender's family counts for neither, so a family's New-Year lucky-money burst, or a game among relatives (亲属间不以营利为目的的娱乐, which police practice does not treat as gambling — to be confirmed), stays quiet. The score rises with each signal; settlements with a net win (a banker's profile, 组织赌博) make the finding high."""
-- false_positives = ["A family's games when relations.csv does not declare the relatives as family", "A friends' group playing 接龙 for a few yuan (the amounts tell; the rule still names the pattern)", "A sender who is repaid an AA advance of exactly the packet's total within minutes, several times (rare)", "Only part of the game is visible when only one member's bill was obtained: chains and players may be missing, settlements above 200 yuan paid as several packets are not matched"]
-- reason_zh = "{start_ts}起{subject_label}发出群红包{n_rounds}轮（相邻间隔≤{max_gap_minutes}分钟），具备{signals_held}项赌博特征（阈值：≥{min_rounds}轮、≥{min_signals}项且须有结算或接龙；超出{excess_signals}项）：{signals_zh}{missing_zh}"
-- reason_en = "From {start_ts} {subject_label} sent {n_rounds} rounds of group red packets (≤ {max_gap_minutes} minutes apart), with {signals_held} gambling signals (threshold: ≥ {min_rounds} rounds and ≥ {min_signals} signals including settlements or a chain; exceeded by {excess_signals}): {signals_en}{missing_en}"
--
-- [params.max_gap_minutes]
-- default = 10
-- description = "largest gap between two rounds of one sender in a session: games run a round every 1–5 minutes, and a player's own rounds are further apart when others send in between"
-- [params.min_rounds]
-- default = 5
-- description = "rounds in a session before it is looked at: games last hours; a family's New-Year burst is a few packets"
-- [params.min_equal_rounds]
-- default = 4
-- description = "rounds with the same total for the fixed-stake signal (festive packets vary)"
-- [params.settle_minutes]
-- default = 10
-- description = "a settlement is paid to the sender within this many minutes after the round"
-- [params.payout_multiples]
-- default = [1.0, 1.2, 1.5, 1.6, 1.8, 2.0]
-- description = "k in a settlement of k × the round's total (扫雷 payouts seen in cases, domain.md §2.2)"
-- [params.min_settlements]
-- default = 3
-- description = "settlements in a session for the settlement signal (one or two round-figure repayments can be chance)"
-- [params.min_chain_rounds]
-- default = 3
-- description = "rounds sent within max_gap_minutes after the sender received someone else's red packet, for the chain (接龙) signal"
-- [params.min_players]
-- default = 3
-- description = "stable players for the stable-players signal"
-- [params.player_share]
-- default = 0.5
-- description = "a grabber is a stable player when he grabbed in at least this share of the session's rounds whose shares are in the data"
-- [params.min_signals]
-- default = 3
-- description = "signals (of tempo, fixed stake, settlements, chain, stable players, net win) for a finding"

WITH grp AS (
    -- Rows of group red packets: the sender's own row (no payee; the packet's total) and
    -- the grabbed shares (payee = the grabber). A round is a packet_id; a sender's row
    -- without one is a round of its own; a share without one cannot be placed and is dropped.
    SELECT m.id, m.ts, m.amount, m.payer_party AS sender, m.payee_party AS grabber,
           m.payer_person AS sender_person, m.payee_person AS grabber_person,
           coalesce(m.packet_id, 'row ' || CAST(m.id AS VARCHAR)) AS round_key
    FROM mv AS m
    WHERE m.kind = 'group_red_packet'
      AND m.status NOT IN ('refunded', 'returned')
      AND m.payer_party IS NOT NULL
      AND (m.packet_id IS NOT NULL OR m.payee_party IS NULL)
),
rounds AS (
    -- one row per round: its time, its total (the sender's row, else the sum of the shares)
    SELECT sender, round_key, min(ts) AS ts,
           coalesce(max(CASE WHEN grabber IS NULL THEN amount END), sum(amount)) AS total,
           count(grabber) AS n_shares
    FROM grp
    GROUP BY sender, round_key
),
gaps AS (
    SELECT rounds.*,
           CASE WHEN lag(ts) OVER (PARTITION BY sender ORDER BY ts, round_key) IS NULL
                  OR ts > lag(ts) OVER (PARTITION BY sender ORDER BY ts, round_key) + $max_gap_minutes * INTERVAL 1 MINUTE
                THEN 1 ELSE 0 END AS new_session,
           date_diff('second', lag(ts) OVER (PARTITION BY sender ORDER BY ts, round_key), ts) AS gap_seconds
    FROM rounds
),
numbered AS (
    -- sessions: a new one starts when the sender's previous round is more than max_gap_minutes back
    SELECT gaps.*,
           sum(new_session) OVER (PARTITION BY sender ORDER BY ts, round_key ROWS UNBOUNDED PRECEDING) AS session_no
    FROM gaps
),
sessions AS (
    -- sessions long enough to look at (the tempo signal)
    SELECT sender, session_no, count(*) AS n_rounds, min(ts) AS start_ts, max(ts) AS end_ts,
           sum(total) AS sent,
           sum(CASE WHEN n_shares > 0 THEN 1 ELSE 0 END) AS rounds_with_shares,
           max(CASE WHEN new_session = 0 THEN gap_seconds END) AS max_gap_seen
    FROM numbered
    GROUP BY sender, session_no
    HAVING count(*) >= $min_rounds
),
sess_rounds AS (
    SELECT n.sender, n.session_no, n.round_key, n.ts, n.total
    FROM numbered AS n
    JOIN sessions AS s ON s.sender = n.sender AND s.session_no = n.session_no
),
stake AS (
    -- the most frequent total of each session (the fixed-stake signal)
    SELECT sender, session_no, total AS stake, n AS stake_rounds
    FROM (
        SELECT sender, session_no, total, count(*) AS n,
               row_number() OVER (PARTITION BY sender, session_no ORDER BY count(*) DESC, total DESC) AS rn
        FROM sess_rounds
        GROUP BY sender, session_no, total
    ) AS t
    WHERE rn = 1
),
incoming AS (
    -- money to a sender from someone who is not his family (family money counts for no signal)
    SELECT m.id, m.ts, m.amount, m.kind, m.payer_party AS payer, m.payee_party AS payee
    FROM mv AS m
    WHERE m.kind IN ('red_packet', 'group_red_packet', 'transfer', 'qr_payment')
      AND m.status NOT IN ('refunded', 'returned')
      AND m.payer_party IS NOT NULL AND m.payee_party IS NOT NULL
      AND m.payer_party <> m.payee_party
      AND m.payee_party IN (SELECT sender FROM sessions)
      AND NOT EXISTS (
          SELECT 1 FROM rel AS f
          WHERE f.relation = 'family' AND f.person_id = m.payer_person AND f.other_id = m.payee_person
      )
),
multiples AS (
    SELECT CAST(k AS DECIMAL(9, 3)) AS k FROM (SELECT unnest($payout_multiples) AS k) AS u
),
settle_match AS (
    -- A settlement: a payment (not a group packet) to the sender within settle_minutes
    -- after one of his rounds, of k × that round's total. Bounded join: the sender and
    -- the time range. A payment that fits several rounds goes to the latest of them.
    SELECT i.id, i.payer, i.amount, r.sender, r.session_no,
           row_number() OVER (PARTITION BY i.id ORDER BY r.ts DESC, r.round_key DESC) AS rn
    FROM sess_rounds AS r
    JOIN incoming AS i
      ON i.payee = r.sender
     AND i.ts >= r.ts AND i.ts <= r.ts + $settle_minutes * INTERVAL 1 MINUTE
    JOIN multiples AS k ON abs(i.amount - k.k * r.total) < 0.005
    WHERE i.kind <> 'group_red_packet'
),
settled AS (
    SELECT sender, session_no, count(*) AS n_settle, sum(amount) AS settle_sum,
           count(DISTINCT payer) AS settle_payers
    FROM settle_match
    WHERE rn = 1
    GROUP BY sender, session_no
),
chain_match AS (
    -- The chain (接龙): a red packet or grabbed share the sender received within
    -- max_gap_minutes before one of his rounds, that is no settlement. Bounded join: the
    -- sender and the time range; per round the latest such receipt is its trigger.
    SELECT i.id, i.payer, r.sender, r.session_no, r.round_key,
           row_number() OVER (PARTITION BY r.sender, r.round_key ORDER BY i.ts DESC, i.id DESC) AS rn
    FROM sess_rounds AS r
    JOIN incoming AS i
      ON i.payee = r.sender
     AND i.ts < r.ts AND i.ts >= r.ts - $max_gap_minutes * INTERVAL 1 MINUTE
    WHERE i.kind IN ('red_packet', 'group_red_packet')
      AND i.id NOT IN (SELECT id FROM settle_match WHERE rn = 1)
),
chained AS (
    SELECT sender, session_no, count(*) AS chain_rounds
    FROM chain_match
    WHERE rn = 1
    GROUP BY sender, session_no
),
plays AS (
    -- rounds each grabber took part in (the sender grabbing his own packet is no player)
    SELECT r.sender, r.session_no, g.grabber, count(DISTINCT r.round_key) AS rounds_played
    FROM sess_rounds AS r
    JOIN grp AS g ON g.sender = r.sender AND g.round_key = r.round_key
    WHERE g.grabber IS NOT NULL AND g.grabber <> r.sender
    GROUP BY r.sender, r.session_no, g.grabber
),
players AS (
    SELECT p.sender, p.session_no, count(*) AS n_players,
           sum(CASE WHEN s.rounds_with_shares >= 2 AND p.rounds_played >= $player_share * s.rounds_with_shares
                    THEN 1 ELSE 0 END) AS stable_players
    FROM plays AS p
    JOIN sessions AS s ON s.sender = p.sender AND s.session_no = p.session_no
    GROUP BY p.sender, p.session_no
),
received AS (
    -- all non-family money in while the session ran (and settle_minutes after): the net
    SELECT s.sender, s.session_no, coalesce(sum(i.amount), 0) AS received
    FROM sessions AS s
    LEFT JOIN incoming AS i
      ON i.payee = s.sender
     AND i.ts >= s.start_ts - $max_gap_minutes * INTERVAL 1 MINUTE
     AND i.ts <= s.end_ts + $settle_minutes * INTERVAL 1 MINUTE
    GROUP BY s.sender, s.session_no
),
evidence AS (
    -- every row of the session's rounds, its settlements and its chain triggers; the
    -- counterparties are everyone who grabbed, settled or triggered a round
    SELECT sender, session_no, array_agg(DISTINCT id) AS ids, count(DISTINCT id) AS n_ids,
           array_agg(DISTINCT party) FILTER (WHERE party IS NOT NULL) AS parties
    FROM (
        SELECT r.sender, r.session_no, g.id, CASE WHEN g.grabber <> r.sender THEN g.grabber END AS party
        FROM sess_rounds AS r JOIN grp AS g ON g.sender = r.sender AND g.round_key = r.round_key
        UNION
        SELECT sender, session_no, id, payer FROM settle_match WHERE rn = 1
        UNION
        SELECT sender, session_no, id, payer FROM chain_match WHERE rn = 1
    ) AS e
    GROUP BY sender, session_no
),
signals AS (
    SELECT s.sender, s.session_no, s.n_rounds, s.start_ts, s.end_ts, s.sent,
           CAST(ceil(coalesce(s.max_gap_seen, 0) / 60.0) AS INTEGER) AS gap_minutes_seen,
           st.stake, st.stake_rounds,
           coalesce(se.n_settle, 0) AS n_settle, coalesce(se.settle_sum, 0) AS settle_sum,
           coalesce(se.settle_payers, 0) AS settle_payers,
           coalesce(ch.chain_rounds, 0) AS chain_rounds,
           coalesce(pl.n_players, 0) AS n_players, coalesce(pl.stable_players, 0) AS stable_players,
           rc.received, rc.received - s.sent AS net,
           st.stake_rounds >= $min_equal_rounds AS s_stake,
           coalesce(se.n_settle, 0) >= $min_settlements AS s_settle,
           coalesce(ch.chain_rounds, 0) >= $min_chain_rounds AS s_chain,
           coalesce(pl.stable_players, 0) >= $min_players AS s_players,
           rc.received > s.sent AS s_net,
           ev.ids AS evidence, ev.n_ids, ev.parties AS counterparties
    FROM sessions AS s
    JOIN stake AS st ON st.sender = s.sender AND st.session_no = s.session_no
    JOIN received AS rc ON rc.sender = s.sender AND rc.session_no = s.session_no
    JOIN evidence AS ev ON ev.sender = s.sender AND ev.session_no = s.session_no
    LEFT JOIN settled AS se ON se.sender = s.sender AND se.session_no = s.session_no
    LEFT JOIN chained AS ch ON ch.sender = s.sender AND ch.session_no = s.session_no
    LEFT JOIN players AS pl ON pl.sender = s.sender AND pl.session_no = s.session_no
),
counted AS (
    SELECT signals.*,
           -- tempo (the session itself) + the five others
           1 + CAST(s_stake AS INTEGER) + CAST(s_settle AS INTEGER) + CAST(s_chain AS INTEGER)
             + CAST(s_players AS INTEGER) + CAST(s_net AS INTEGER) AS signals_held
    FROM signals
)
SELECT
    c.sender AS subject,
    c.counterparties,
    CAST(NULL AS VARCHAR) AS window_name,
    c.start_ts,
    c.end_ts,
    c.sent AS total_amount,
    c.n_ids AS txn_count,
    c.evidence,
    -- 64 at three signals, +12 per further signal (100 with all six)
    least(100, 40 + 12 * (c.signals_held - 1)) AS score,
    -- payouts on the outcome and a steady profit: a banker's profile (组织赌博)
    CASE WHEN c.s_settle AND c.s_net THEN 'high' ELSE 'medium' END AS severity,
    coalesce(p.name || '（' || c.sender || '）', c.sender) AS subject_label,
    c.n_rounds,
    c.gap_minutes_seen,
    c.signals_held,
    c.signals_held - $min_signals AS excess_signals,
    c.stake,
    c.stake_rounds,
    c.n_settle,
    c.settle_sum,
    c.settle_payers,
    c.chain_rounds,
    c.n_players,
    c.stable_players,
    c.sent,
    c.received,
    c.net,
    c.s_stake, c.s_settle, c.s_chain, c.s_players, c.s_net,
    -- the signals that held, with their figures
    concat_ws('；',
        '节奏：' || CAST(c.n_rounds AS VARCHAR) || '轮，最大间隔' || CAST(c.gap_minutes_seen AS VARCHAR) || '分钟',
        CASE WHEN c.s_stake THEN '固定金额：¥' || format('{:,.2f}', c.stake) || '重复' || CAST(c.stake_rounds AS VARCHAR)
             || '轮（≥' || CAST($min_equal_rounds AS VARCHAR) || '）' END,
        CASE WHEN c.s_settle THEN '倍数结算：发包后' || CAST($settle_minutes AS VARCHAR) || '分钟内收到' || CAST(c.settle_payers AS VARCHAR)
             || '人按红包金额倍数付款' || CAST(c.n_settle AS VARCHAR) || '笔，共¥' || format('{:,.2f}', c.settle_sum)
             || '（≥' || CAST($min_settlements AS VARCHAR) || '笔）' END,
        CASE WHEN c.s_chain THEN '接龙：' || CAST(c.chain_rounds AS VARCHAR) || '轮是刚收到他人红包后' || CAST($max_gap_minutes AS VARCHAR)
             || '分钟内发出（≥' || CAST($min_chain_rounds AS VARCHAR) || '轮）' END,
        CASE WHEN c.s_players THEN '固定玩家：' || CAST(c.stable_players AS VARCHAR) || '人在多数轮次中抢包（≥'
             || CAST($min_players AS VARCHAR) || '人）' END,
        CASE WHEN c.s_net THEN '净赢：收入¥' || format('{:,.2f}', c.received) || '，发出¥' || format('{:,.2f}', c.sent)
             || '，净赢¥' || format('{:,.2f}', c.net) END
    ) AS signals_zh,
    concat_ws('; ',
        'tempo: ' || CAST(c.n_rounds AS VARCHAR) || ' rounds, largest gap ' || CAST(c.gap_minutes_seen AS VARCHAR) || ' min',
        CASE WHEN c.s_stake THEN 'fixed stake: ¥' || format('{:,.2f}', c.stake) || ' in ' || CAST(c.stake_rounds AS VARCHAR)
             || ' rounds (≥ ' || CAST($min_equal_rounds AS VARCHAR) || ')' END,
        CASE WHEN c.s_settle THEN 'settlements: ' || CAST(c.n_settle AS VARCHAR) || ' payments of a multiple of the round total from '
             || CAST(c.settle_payers AS VARCHAR) || ' people within ' || CAST($settle_minutes AS VARCHAR) || ' min, ¥'
             || format('{:,.2f}', c.settle_sum) || ' (≥ ' || CAST($min_settlements AS VARCHAR) || ')' END,
        CASE WHEN c.s_chain THEN 'chain: ' || CAST(c.chain_rounds AS VARCHAR) || ' rounds sent within ' || CAST($max_gap_minutes AS VARCHAR)
             || ' min of receiving another player''s packet (≥ ' || CAST($min_chain_rounds AS VARCHAR) || ')' END,
        CASE WHEN c.s_players THEN 'stable players: ' || CAST(c.stable_players AS VARCHAR) || ' grabbing in most rounds (≥ '
             || CAST($min_players AS VARCHAR) || ')' END,
        CASE WHEN c.s_net THEN 'net win: ¥' || format('{:,.2f}', c.received) || ' in, ¥' || format('{:,.2f}', c.sent)
             || ' out, ¥' || format('{:,.2f}', c.net) || ' won' END
    ) AS signals_en,
    CASE WHEN c.signals_held = 6 THEN '' ELSE '。未见：' || concat_ws('、',
        CASE WHEN NOT c.s_stake THEN '固定金额' END, CASE WHEN NOT c.s_settle THEN '倍数结算' END,
        CASE WHEN NOT c.s_chain THEN '接龙' END, CASE WHEN NOT c.s_players THEN '固定玩家' END,
        CASE WHEN NOT c.s_net THEN '净赢' END) END AS missing_zh,
    CASE WHEN c.signals_held = 6 THEN '' ELSE '. Not seen: ' || concat_ws(', ',
        CASE WHEN NOT c.s_stake THEN 'fixed stake' END, CASE WHEN NOT c.s_settle THEN 'settlements' END,
        CASE WHEN NOT c.s_chain THEN 'chain' END, CASE WHEN NOT c.s_players THEN 'stable players' END,
        CASE WHEN NOT c.s_net THEN 'net win' END) END AS missing_en
FROM counted AS c
LEFT JOIN people AS p ON p.person_id = c.sender
WHERE c.signals_held >= $min_signals
  AND (c.s_settle OR c.s_chain)
