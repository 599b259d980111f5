-- title = "Red-packet gambling: a game of group-packet rounds among the same players, with penalties or a chain"
-- title_zh = "红包赌博（扫雷、接龙等）：同一批玩家轮流发出的群红包局，伴随倍数罚付或接龙"
-- severity = "medium"
-- regulation = "《公职人员政务处分法》第四十条第一款第（三）项（参与赌博：警告、记过或者记大过，情节较重的降级或者撤职，情节严重的开除）、第二款（组织赌博：撤职或者开除）；《中国共产党纪律处分条例》（2023）关于党员违法行为的一般条款（依据公安机关处罚认定的事实处理，条号须按2023年版原文核对）；《治安管理处罚法》（2026年施行修订版）第八十二条；《刑法》第三百零三条（赌博罪、开设赌场罪）"
-- rationale = """A red-packet game is a game, not a sender (domain.md §2.1–2.2; 微山, 奉贤, 绍兴, 交城 cases). In 扫雷 whoever grabs an amount ending in the mine digit pays the round's sender a fixed multiple of the stake (1.5 ×, 2 × …, by a 1:1 packet or a transfer) and often sends the next round; in 接龙 whoever grabbed the biggest share sends next. So the sender rotates: a night's game is dozens of rounds among a stable set of players, no one sending more than a few in a row, and the organiser (群主, often 免死) is the one who wins over several nights. The rule links group-packet rounds (one per packet_id) that are at most max_gap_minutes apart and whose players (sender and grabbers) mostly overlap (min_overlap of the smaller round), whoever sent them; a connected set of such rounds is a night, and nights at most night_gap_days apart whose core players (in player_share of a night's rounds) mostly overlap are one game. Per game it checks the signals: tempo (a night of min_rounds rounds or more), a fixed stake (the same total in min_equal_rounds rounds), settlements (payments from a round's grabber to its sender of k × the round's total, k in payout_multiples, within settle_minutes, by packet or transfer), a chain (the next round sent by the previous round's biggest grabber, in min_chain_rounds rounds and at least chain_share of them), stable players (min_players or more core players) and a net winner. Money needs to come back on the outcome, so a game fires only with settlements or a chain, and with min_signals signals; money between family members is no settlement, so a family's New Year's Eve burst of lucky money (one sender, totals that vary, nothing paid back) and work groups' festival packets stay quiet. One finding per game: the subject is the organiser (the player with the largest net win; on a tie, who moved the most), the counterparties are the other players, the evidence is every round and every settlement of the game, with figures per night and net per player. Settlements and a net winner (a banker's profile, 组织赌博) make it high."""
-- false_positives = ["A family's games when relations.csv does not declare the relatives as family", "A friends' group playing 接龙 for a few yuan (the amounts tell; the rule still names the pattern)", "A group that repays AA advances of exactly a packet's total within minutes, several times (rare)", "Only part of the game is visible when only some members' bills were obtained: rounds whose shares are not in the data cannot be linked, and penalties paid as several packets are not matched"]
-- reason_zh = "{start_ts}起{n_nights}晚共{n_rounds}轮群红包赌局（同一批{n_players}名玩家轮流发包，相邻轮次≤{max_gap_minutes}分钟），组织者/最大赢家{subject_label}净赢¥{organiser_net}；具备{signals_held}项赌博特征（阈值：一晚≥{min_rounds}轮、≥{min_signals}项且须有罚付结算或接龙；超出{excess_signals}项）：{signals_zh}{missing_zh}"
-- reason_en = "From {start_ts}, a group red-packet game of {n_rounds} rounds over {n_nights} night(s) (the same {n_players} players taking turns to send, rounds ≤ {max_gap_minutes} minutes apart); organiser and biggest winner {subject_label}, net ¥{organiser_net}; {signals_held} gambling signals (threshold: ≥ {min_rounds} rounds in a night and ≥ {min_signals} signals including settlements or a chain; exceeded by {excess_signals}): {signals_en}{missing_en}"
-- internal = ["signals_zh", "signals_en", "missing_zh", "missing_en", "s_stake", "s_settle", "s_chain", "s_players", "s_net"]
--
-- [params.max_gap_minutes]
-- default = 10
-- description = "largest gap between two linked rounds of one night: games run a round every 1–5 minutes"
-- [params.min_overlap]
-- default = 0.6
-- description = "share of the smaller round's players (sender and grabbers) that two rounds must share to be one game; for nights, the share of core players"
-- [params.min_rounds]
-- default = 5
-- description = "rounds in a night before it is looked at: games last hours; a family's New-Year burst is a few packets"
-- [params.night_gap_days]
-- default = 7
-- description = "largest gap in days between two nights of one game (groups are closed after three or four days and the players move on)"
-- [params.min_equal_rounds]
-- default = 4
-- description = "rounds with the same total for the fixed-stake signal (festive packets vary)"
-- [params.settle_minutes]
-- default = 10
-- description = "a penalty is paid to the round's sender within this many minutes after the round"
-- [params.payout_multiples]
-- default = [1.0, 1.2, 1.5, 1.6, 1.8, 2.0]
-- description = "k in a penalty of k × the round's total (扫雷 payouts seen in cases, domain.md §2.2)"
-- [params.min_settlements]
-- default = 3
-- description = "penalties in a game for the settlement signal (one or two round-figure repayments can be chance)"
-- [params.min_chain_rounds]
-- default = 3
-- description = "rounds sent by the previous round's biggest grabber, for the chain (接龙) signal"
-- [params.chain_share]
-- default = 0.5
-- description = "share of a game's rounds (after each night's first) that the chain must hold: in 接龙 nearly every round follows the biggest grabber, in a festive group only by chance"
-- [params.min_players]
-- default = 3
-- description = "core players for the stable-players signal"
-- [params.player_share]
-- default = 0.5
-- description = "a player is a core player of a night when he sent or grabbed in at least this share of its rounds"
-- [params.min_signals]
-- default = 3
-- description = "signals (of tempo, fixed stake, settlements, chain, stable players, net winner) for a finding"
--
-- [labels.subject_label]
-- zh = "组织者（最大赢家）"
-- en = "Organiser (biggest winner)"
-- [labels.n_nights]
-- zh = "晚数"
-- en = "Nights"
-- [labels.n_rounds]
-- zh = "轮数"
-- en = "Rounds"
-- [labels.n_players]
-- zh = "玩家人数"
-- en = "Players"
-- [labels.stable_players]
-- zh = "固定玩家人数"
-- en = "Core players"
-- [labels.stake]
-- zh = "常用注额（元）"
-- en = "Usual stake (yuan)"
-- [labels.stake_rounds]
-- zh = "该注额轮数"
-- en = "Rounds at that stake"
-- [labels.n_settle]
-- zh = "罚付结算笔数"
-- en = "Penalty settlements"
-- [labels.settle_sum]
-- zh = "罚付结算金额（元）"
-- en = "Penalties paid (yuan)"
-- [labels.chain_rounds]
-- zh = "接龙轮数"
-- en = "Chain rounds"
-- [labels.organiser_net]
-- zh = "组织者净赢（元）"
-- en = "Organiser's net win (yuan)"
-- [labels.gap_minutes_seen]
-- zh = "最大轮次间隔（分钟）"
-- en = "Largest gap between rounds (minutes)"
-- [labels.signals_held]
-- zh = "赌博特征项数"
-- en = "Gambling signals"
-- [labels.excess_signals]
-- zh = "超出阈值项数"
-- en = "Signals over the threshold"
-- [labels.nights]
-- zh = "各晚情况"
-- en = "Per night"
-- [labels.nights.night]
-- zh = "日期（晚）"
-- en = "Night"
-- [labels.nights.first_round]
-- zh = "首轮"
-- en = "First round"
-- [labels.nights.last_round]
-- zh = "末轮"
-- en = "Last round"
-- [labels.nights.rounds]
-- zh = "轮数"
-- en = "Rounds"
-- [labels.nights.stake]
-- zh = "常用注额（元）"
-- en = "Usual stake (yuan)"
-- [labels.nights.settlements]
-- zh = "罚付笔数"
-- en = "Penalties"
-- [labels.nights.settled]
-- zh = "罚付金额（元）"
-- en = "Penalties (yuan)"
-- [labels.nights.net_by_player]
-- zh = "各玩家净输赢（元）"
-- en = "Net per player (yuan)"
-- [labels.players]
-- zh = "各玩家净输赢"
-- en = "Net per player"
-- [labels.players.player]
-- zh = "玩家"
-- en = "Player"
-- [labels.players.rounds_sent]
-- zh = "发包轮数"
-- en = "Rounds sent"
-- [labels.players.sent]
-- zh = "发出（元）"
-- en = "Sent (yuan)"
-- [labels.players.grabbed]
-- zh = "抢得（元）"
-- en = "Grabbed (yuan)"
-- [labels.players.paid]
-- zh = "付出罚付（元）"
-- en = "Penalties paid (yuan)"
-- [labels.players.collected]
-- zh = "收到罚付（元）"
-- en = "Penalties collected (yuan)"
-- [labels.players.net]
-- zh = "净输赢（元）"
-- en = "Net (yuan)"

WITH RECURSIVE grp AS (
    -- Rows of group red packets: the sender's own row (no payee; the packet's total) and
    -- the grabbed shares (payee = the grabber). A round is a packet_id; a sender's row
    -- without one is a round of its own; a share without one cannot be placed and is dropped.
    SELECT m.id, m.ts, m.amount, m.payer_party AS sender, m.payee_party AS grabber,
           coalesce(m.packet_id, 'row ' || CAST(m.id AS VARCHAR)) AS round_key
    FROM mv AS m
    WHERE m.kind = 'group_red_packet'
      AND m.status NOT IN ('refunded', 'returned')
      AND m.payer_party IS NOT NULL
      AND (m.packet_id IS NOT NULL OR m.payee_party IS NULL)
),
rounds AS (
    -- one row per round: its sender, time, total (the sender's row, else the sum of the
    -- shares) and its biggest grabber (手气最佳, who sends next in 接龙)
    SELECT round_key, min(sender) AS sender, min(ts) AS ts,
           coalesce(max(CASE WHEN grabber IS NULL THEN amount END), sum(amount)) AS total,
           arg_max(grabber, amount) FILTER (WHERE grabber IS NOT NULL AND grabber <> sender) AS best_grabber
    FROM grp
    GROUP BY round_key
),
members AS (
    -- who took part in each round: its sender and its grabbers
    SELECT r.round_key, r.ts, r.sender AS player FROM rounds AS r
    UNION
    SELECT g.round_key, r.ts, g.grabber FROM grp AS g JOIN rounds AS r ON r.round_key = g.round_key
    WHERE g.grabber IS NOT NULL
),
sizes AS (
    SELECT round_key, count(*) AS n_members FROM members GROUP BY round_key
),
shared AS (
    -- two rounds close in time that share players, whoever sent them. Bounded join: the
    -- same player and the time range.
    SELECT a.round_key AS a, b.round_key AS b, count(*) AS n_shared
    FROM members AS a
    JOIN members AS b
      ON b.player = a.player
     AND b.ts >= a.ts AND b.ts <= a.ts + $max_gap_minutes * INTERVAL 1 MINUTE
     AND b.round_key <> a.round_key
    GROUP BY a.round_key, b.round_key
),
one_way AS (
    -- rounds of one night: most players of the smaller round are in the other
    SELECT s.a, s.b
    FROM shared AS s
    JOIN sizes AS sa ON sa.round_key = s.a
    JOIN sizes AS sb ON sb.round_key = s.b
    WHERE s.n_shared >= 2 AND s.n_shared >= $min_overlap * least(sa.n_members, sb.n_members)
),
links AS (
    SELECT a, b FROM one_way UNION SELECT b, a FROM one_way
),
reach AS (
    -- every round a linked round reaches through links (UNION keeps it finite): a night
    -- is a connected set of rounds, named by its least round key
    SELECT a AS round_key, a AS label FROM links
    UNION
    SELECT l.b, r.label FROM reach AS r JOIN links AS l ON l.a = r.round_key
),
round_night AS (
    SELECT round_key, min(label) AS night_key FROM reach GROUP BY round_key
),
nights AS (
    SELECT n.night_key, count(*) AS n_rounds, min(r.ts) AS start_ts, max(r.ts) AS end_ts
    FROM round_night AS n JOIN rounds AS r ON r.round_key = n.round_key
    GROUP BY n.night_key
    HAVING count(*) >= $min_rounds
),
night_players AS (
    -- each night's players and how many of its rounds they sent or grabbed in
    SELECT n.night_key, m.player, count(*) AS n_in, max(nt.start_ts) AS start_ts, max(nt.end_ts) AS end_ts,
           max(nt.n_rounds) AS night_rounds
    FROM round_night AS n
    JOIN nights AS nt ON nt.night_key = n.night_key
    JOIN members AS m ON m.round_key = n.round_key
    GROUP BY n.night_key, m.player
),
core AS (
    -- core players: in at least player_share of the night's rounds
    SELECT night_key, player, start_ts, end_ts FROM night_players WHERE n_in >= $player_share * night_rounds
),
core_sizes AS (
    SELECT night_key, count(*) AS n_core FROM core GROUP BY night_key
),
night_shared AS (
    -- two nights at most night_gap_days apart with core players in common. Bounded join:
    -- the same player and the time range.
    SELECT a.night_key AS a, b.night_key AS b, count(*) AS n_shared
    FROM core AS a
    JOIN core AS b
      ON b.player = a.player
     AND b.start_ts > a.start_ts AND b.start_ts <= a.end_ts + $night_gap_days * INTERVAL 1 DAY
    GROUP BY a.night_key, b.night_key
),
night_one_way AS (
    SELECT s.a, s.b
    FROM night_shared AS s
    JOIN core_sizes AS ca ON ca.night_key = s.a
    JOIN core_sizes AS cb ON cb.night_key = s.b
    WHERE s.n_shared >= 2 AND s.n_shared >= $min_overlap * least(ca.n_core, cb.n_core)
),
night_links AS (
    SELECT a, b FROM night_one_way UNION SELECT b, a FROM night_one_way UNION SELECT night_key, night_key FROM nights
),
night_reach AS (
    -- a game: nights connected by the same players
    SELECT a AS night_key, a AS label FROM night_links
    UNION
    SELECT l.b, r.label FROM night_reach AS r JOIN night_links AS l ON l.a = r.night_key
),
night_game AS (
    SELECT night_key, min(label) AS game_key FROM night_reach GROUP BY night_key
),
game_rounds AS (
    -- every round of a game, with the night it belongs to and the round before it that night
    SELECT g.game_key, n.night_key, r.round_key, r.sender, r.ts, r.total, r.best_grabber,
           CAST(nt.start_ts - INTERVAL 6 HOUR AS DATE) AS night,
           lag(r.best_grabber) OVER (PARTITION BY n.night_key ORDER BY r.ts, r.round_key) AS prev_best,
           lag(r.sender) OVER (PARTITION BY n.night_key ORDER BY r.ts, r.round_key) AS prev_sender,
           lag(r.ts) OVER (PARTITION BY n.night_key ORDER BY r.ts, r.round_key) AS prev_ts
    FROM round_night AS n
    JOIN night_game AS g ON g.night_key = n.night_key
    JOIN nights AS nt ON nt.night_key = n.night_key
    JOIN rounds AS r ON r.round_key = n.round_key
),
multiples AS (
    SELECT CAST(k AS DECIMAL(9, 3)) AS k FROM (SELECT unnest($payout_multiples) AS k) AS u
),
settle_match AS (
    -- A penalty: a packet, transfer or QR payment from one of the round's grabbers to its
    -- sender within settle_minutes after it, of k × the round's total, not between family.
    -- Bounded join: the sender and the time range. A payment that fits several rounds
    -- goes to the latest of them.
    -- The movements are joined on sender and grabber at once: joined on the grabber
    -- alone first (DuckDB's choice), a 10M-movement case gave 58M rows and ran out of memory.
    SELECT m.id, m.payer_party AS payer, m.payee_party AS payee, m.amount, r.game_key, r.night_key,
           row_number() OVER (PARTITION BY m.id ORDER BY r.ts DESC, r.round_key DESC) AS rn
    FROM (
        SELECT r.game_key, r.night_key, r.round_key, r.sender, r.ts, r.total, g.player AS grabber
        FROM game_rounds AS r JOIN members AS g ON g.round_key = r.round_key AND g.player <> r.sender
    ) AS r
    JOIN mv AS m
      ON m.payee_party = r.sender AND m.payer_party = r.grabber
     AND m.ts >= r.ts AND m.ts <= r.ts + $settle_minutes * INTERVAL 1 MINUTE
    JOIN multiples AS k ON abs(m.amount - k.k * r.total) < 0.005
    WHERE m.kind IN ('red_packet', 'transfer', 'qr_payment')
      AND m.status NOT IN ('refunded', 'returned')
      AND m.payer_party <> m.payee_party
      AND NOT EXISTS (
          SELECT 1 FROM rel AS f
          WHERE f.relation = 'family' AND f.person_id = m.payer_person AND f.other_id = m.payee_person
      )
),
settlements AS (
    SELECT id, payer, payee, amount, game_key, night_key FROM settle_match WHERE rn = 1
),
flows AS (
    -- every player's money in the game: rounds sent (−), shares grabbed (+), penalties
    -- paid (−) and collected (+)
    SELECT r.game_key, r.night_key, r.sender AS player, 1 AS sent_round, r.total AS sent,
           CAST(0 AS DECIMAL(18, 2)) AS grabbed, CAST(0 AS DECIMAL(18, 2)) AS paid, CAST(0 AS DECIMAL(18, 2)) AS collected
    FROM game_rounds AS r
    UNION ALL
    SELECT r.game_key, r.night_key, g.grabber, 0, 0, g.amount, 0, 0
    FROM game_rounds AS r JOIN grp AS g ON g.round_key = r.round_key
    WHERE g.grabber IS NOT NULL AND g.grabber <> r.sender
    UNION ALL
    SELECT game_key, night_key, payer, 0, 0, 0, amount, 0 FROM settlements
    UNION ALL
    SELECT game_key, night_key, payee, 0, 0, 0, 0, amount FROM settlements
),
player_night AS (
    SELECT game_key, night_key, player, sum(sent_round) AS rounds_sent, sum(sent) AS sent, sum(grabbed) AS grabbed,
           sum(paid) AS paid, sum(collected) AS collected,
           sum(grabbed) + sum(collected) - sum(sent) - sum(paid) AS net
    FROM flows
    GROUP BY game_key, night_key, player
),
player_game AS (
    SELECT pn.game_key, pn.player, sum(pn.rounds_sent) AS rounds_sent, sum(pn.sent) AS sent, sum(pn.grabbed) AS grabbed,
           sum(pn.paid) AS paid, sum(pn.collected) AS collected, sum(pn.net) AS net,
           coalesce(p.name || '（' || pn.player || '）', pn.player) AS player_label
    FROM player_night AS pn
    LEFT JOIN people AS p ON p.person_id = pn.player
    GROUP BY pn.game_key, pn.player, p.name
),
organiser AS (
    -- the organiser: the biggest net winner (on a tie, who moved the most money)
    SELECT game_key, player, net, player_label
    FROM (
        SELECT player_game.*,
               row_number() OVER (PARTITION BY game_key ORDER BY net DESC, sent + grabbed + paid + collected DESC, player) AS rn
        FROM player_game
    ) AS t
    WHERE rn = 1
),
night_stake AS (
    -- the most frequent total of each night
    SELECT night_key, total AS stake
    FROM (
        SELECT night_key, total, row_number() OVER (PARTITION BY night_key ORDER BY count(*) DESC, total DESC) AS rn
        FROM game_rounds
        GROUP BY night_key, total
    ) AS t
    WHERE rn = 1
),
game_stake AS (
    SELECT game_key, total AS stake, n AS stake_rounds
    FROM (
        SELECT game_key, total, count(*) AS n,
               row_number() OVER (PARTITION BY game_key ORDER BY count(*) DESC, total DESC) AS rn
        FROM game_rounds
        GROUP BY game_key, total
    ) AS t
    WHERE rn = 1
),
night_rows AS (
    -- the figures of each night: rounds, stake, penalties and net per player
    SELECT r.game_key, r.night_key, min(r.night) AS night, min(r.ts) AS first_round, max(r.ts) AS last_round,
           count(*) AS rounds, max(s.stake) AS stake,
           (SELECT count(*) FROM settlements AS x WHERE x.night_key = r.night_key) AS settlements,
           (SELECT coalesce(sum(x.amount), 0) FROM settlements AS x WHERE x.night_key = r.night_key) AS settled,
           (SELECT string_agg(coalesce(p.name, pn.player) || ' ' || CASE WHEN pn.net >= 0 THEN '+' ELSE '' END
                              || format('{:,.2f}', pn.net), '、' ORDER BY pn.net DESC, pn.player)
            FROM player_night AS pn LEFT JOIN people AS p ON p.person_id = pn.player
            WHERE pn.night_key = r.night_key) AS net_by_player
    FROM game_rounds AS r
    JOIN night_stake AS s ON s.night_key = r.night_key
    GROUP BY r.game_key, r.night_key
),
games AS (
    SELECT r.game_key, count(*) AS n_rounds, count(DISTINCT r.night_key) AS n_nights, min(r.ts) AS start_ts, max(r.ts) AS end_ts,
           sum(r.total) AS staked,
           max(date_diff('second', r.prev_ts, r.ts)) AS max_gap_seen,
           -- 接龙: the round sent by the previous round's biggest grabber
           sum(CASE WHEN r.sender = r.prev_best AND r.sender <> r.prev_sender THEN 1 ELSE 0 END) AS chain_rounds,
           sum(CASE WHEN r.prev_ts IS NOT NULL THEN 1 ELSE 0 END) AS follow_rounds
    FROM game_rounds AS r
    GROUP BY r.game_key
),
game_settled AS (
    SELECT game_key, count(*) AS n_settle, sum(amount) AS settle_sum, count(DISTINCT payer) AS settle_payers
    FROM settlements
    GROUP BY game_key
),
game_core AS (
    SELECT g.game_key, count(DISTINCT c.player) AS stable_players
    FROM night_game AS g JOIN core AS c ON c.night_key = g.night_key
    GROUP BY g.game_key
),
evidence AS (
    -- every row of the game's rounds and every penalty
    SELECT game_key, array_agg(DISTINCT id) AS ids, count(DISTINCT id) AS n_ids
    FROM (
        SELECT r.game_key, g.id FROM game_rounds AS r JOIN grp AS g ON g.round_key = r.round_key
        UNION
        SELECT game_key, id FROM settlements
    ) AS e
    GROUP BY game_key
),
signals AS (
    SELECT g.*, st.stake, st.stake_rounds,
           CAST(ceil(coalesce(g.max_gap_seen, 0) / 60.0) AS INTEGER) AS gap_minutes_seen,
           coalesce(se.n_settle, 0) AS n_settle, coalesce(se.settle_sum, 0) AS settle_sum,
           coalesce(gc.stable_players, 0) AS stable_players,
           o.player AS organiser, o.player_label AS subject_label, o.net AS organiser_net,
           st.stake_rounds >= $min_equal_rounds AS s_stake,
           coalesce(se.n_settle, 0) >= $min_settlements AS s_settle,
           g.chain_rounds >= $min_chain_rounds AND g.chain_rounds >= $chain_share * g.follow_rounds AS s_chain,
           coalesce(gc.stable_players, 0) >= $min_players AS s_players,
           o.net > 0 AS s_net,
           ev.ids AS evidence, ev.n_ids
    FROM games AS g
    JOIN game_stake AS st ON st.game_key = g.game_key
    JOIN organiser AS o ON o.game_key = g.game_key
    JOIN evidence AS ev ON ev.game_key = g.game_key
    LEFT JOIN game_settled AS se ON se.game_key = g.game_key
    LEFT JOIN game_core AS gc ON gc.game_key = g.game_key
),
counted AS (
    SELECT signals.*,
           -- tempo (a night of rounds) + the five others
           1 + CAST(s_stake AS INTEGER) + CAST(s_settle AS INTEGER) + CAST(s_chain AS INTEGER)
             + CAST(s_players AS INTEGER) + CAST(s_net AS INTEGER) AS signals_held
    FROM signals
),
fired AS (
    SELECT * FROM counted WHERE signals_held >= $min_signals AND (s_settle OR s_chain)
)
SELECT
    c.organiser AS subject,
    (SELECT array_agg(DISTINCT pg.player) FROM player_game AS pg WHERE pg.game_key = c.game_key AND pg.player <> c.organiser) AS counterparties,
    CAST(NULL AS VARCHAR) AS window_name,
    c.start_ts,
    c.end_ts,
    c.staked AS total_amount,
    c.n_ids AS txn_count,
    c.evidence,
    -- 64 at three signals, +12 per further signal (100 with all six)
    least(100, 40 + 12 * (c.signals_held - 1)) AS score,
    -- penalties paid on the outcome and a winner who takes them: a banker's profile (组织赌博)
    CASE WHEN c.s_settle AND c.s_net THEN 'high' ELSE 'medium' END AS severity,
    c.subject_label,
    c.n_nights,
    c.n_rounds,
    (SELECT count(*) FROM player_game AS pg WHERE pg.game_key = c.game_key) AS n_players,
    c.stable_players,
    c.stake,
    c.stake_rounds,
    c.n_settle,
    c.settle_sum,
    c.chain_rounds,
    c.organiser_net,
    c.gap_minutes_seen,
    c.signals_held,
    c.signals_held - $min_signals AS excess_signals,
    (SELECT array_agg(struct_pack(night := nr.night, first_round := nr.first_round, last_round := nr.last_round,
                                  rounds := nr.rounds, stake := nr.stake, settlements := nr.settlements,
                                  settled := nr.settled, net_by_player := nr.net_by_player) ORDER BY nr.first_round)
     FROM night_rows AS nr WHERE nr.game_key = c.game_key) AS nights,
    (SELECT array_agg(struct_pack(player := pg.player_label, rounds_sent := pg.rounds_sent, sent := pg.sent,
                                  grabbed := pg.grabbed, paid := pg.paid, collected := pg.collected, net := pg.net)
                      ORDER BY pg.net DESC, pg.player)
     FROM player_game AS pg WHERE pg.game_key = c.game_key) AS players,
    c.s_stake, c.s_settle, c.s_chain, c.s_players, c.s_net,
    -- the signals that held, with their figures
    concat_ws('；',
        '节奏：' || CAST(c.n_nights AS VARCHAR) || '晚' || CAST(c.n_rounds AS VARCHAR) || '轮，最大间隔' || CAST(c.gap_minutes_seen AS VARCHAR) || '分钟',
        CASE WHEN c.s_stake THEN '固定注额：¥' || format('{:,.2f}', c.stake) || '重复' || CAST(c.stake_rounds AS VARCHAR)
             || '轮（≥' || CAST($min_equal_rounds AS VARCHAR) || '）' END,
        CASE WHEN c.s_settle THEN '倍数罚付：抢包者在' || CAST($settle_minutes AS VARCHAR) || '分钟内按注额倍数付给发包者'
             || CAST(c.n_settle AS VARCHAR) || '笔，共¥' || format('{:,.2f}', c.settle_sum)
             || '（≥' || CAST($min_settlements AS VARCHAR) || '笔）' END,
        CASE WHEN c.s_chain THEN '接龙：' || CAST(c.chain_rounds AS VARCHAR) || '轮由上一轮手气最佳者发出（≥'
             || CAST($min_chain_rounds AS VARCHAR) || '轮）' END,
        CASE WHEN c.s_players THEN '固定玩家：' || CAST(c.stable_players AS VARCHAR) || '人在多数轮次中发包或抢包（≥'
             || CAST($min_players AS VARCHAR) || '人）' END,
        CASE WHEN c.s_net THEN '组织者净赢¥' || format('{:,.2f}', c.organiser_net) END
    ) AS signals_zh,
    concat_ws('; ',
        'tempo: ' || CAST(c.n_rounds AS VARCHAR) || ' rounds over ' || CAST(c.n_nights AS VARCHAR) || ' night(s), largest gap '
            || CAST(c.gap_minutes_seen AS VARCHAR) || ' min',
        CASE WHEN c.s_stake THEN 'fixed stake: ¥' || format('{:,.2f}', c.stake) || ' in ' || CAST(c.stake_rounds AS VARCHAR)
             || ' rounds (≥ ' || CAST($min_equal_rounds AS VARCHAR) || ')' END,
        CASE WHEN c.s_settle THEN 'penalties: ' || CAST(c.n_settle AS VARCHAR) || ' payments of a multiple of the stake from a grabber to the round''s sender within '
             || CAST($settle_minutes AS VARCHAR) || ' min, ¥' || format('{:,.2f}', c.settle_sum) || ' (≥ ' || CAST($min_settlements AS VARCHAR) || ')' END,
        CASE WHEN c.s_chain THEN 'chain: ' || CAST(c.chain_rounds AS VARCHAR) || ' rounds sent by the previous round''s biggest grabber (≥ '
             || CAST($min_chain_rounds AS VARCHAR) || ')' END,
        CASE WHEN c.s_players THEN 'stable players: ' || CAST(c.stable_players AS VARCHAR) || ' sending or grabbing in most rounds (≥ '
             || CAST($min_players AS VARCHAR) || ')' END,
        CASE WHEN c.s_net THEN 'the organiser won a net ¥' || format('{:,.2f}', c.organiser_net) END
    ) AS signals_en,
    CASE WHEN c.signals_held = 6 THEN '' ELSE '。未见：' || concat_ws('、',
        CASE WHEN NOT c.s_stake THEN '固定注额' END, CASE WHEN NOT c.s_settle THEN '倍数罚付' END,
        CASE WHEN NOT c.s_chain THEN '接龙' END, CASE WHEN NOT c.s_players THEN '固定玩家' END,
        CASE WHEN NOT c.s_net THEN '净赢家' END) END AS missing_zh,
    CASE WHEN c.signals_held = 6 THEN '' ELSE '. Not seen: ' || concat_ws(', ',
        CASE WHEN NOT c.s_stake THEN 'fixed stake' END, CASE WHEN NOT c.s_settle THEN 'penalties' END,
        CASE WHEN NOT c.s_chain THEN 'chain' END, CASE WHEN NOT c.s_players THEN 'stable players' END,
        CASE WHEN NOT c.s_net THEN 'net winner' END) END AS missing_en
FROM fired AS c
