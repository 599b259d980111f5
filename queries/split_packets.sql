-- title = "Split gift: many packets at or near the cap to one person within minutes"
-- title_zh = "拆分红包：短时间内向同一人连发多个接近上限的红包"
-- severity = "medium"
-- regulation = "《中国共产党纪律处分条例》（2023）第九十七条（收受礼品、礼金）、第九十八条（赠送明显超出正常礼尚往来的礼金）；《公职人员政务处分法》第三十四条（收受、赠送可能影响公正行使公权力的礼金）"
-- rationale = """One WeChat red packet is capped at 200 yuan (520 on 2-14, 5-20 and 七夕, the days in cap_days), so a larger cash gift shows up as several packets of 200 — or 188, 168, 199.99 — to the same person within minutes (domain.md §1 W2/W3, §2.3). The Anhui grain-station case: 21 packets of 200 yuan from grain dealers, expelled from the Party. The rule looks, per sender and receiver, for packets of at least a ratio of the ordinary 200 cap (also on cap days, so that 200s sent on 5-20 still count) that fall within a short time of each other, and flags a run when it holds enough packets and its sum is well past what one packet of that day could carry (the day's cap: 520 on cap days). One 520 between partners on 5-20 is ordinary; three 520s to one person on 5-20 are a split 1,560-yuan gift. Packets between family members (relations.csv) are left out, and so are packets inside a declared occasion (rpa.toml [[events]] ± days) of the receiver or of his family: a 600-yuan wedding gift paid as three 200s is custom, and gifts from an official's subordinates and service objects at his (or his family's) occasion are judged by occasion_collection. The subject is the receiver when he is an official, else the sender."""
-- false_positives = ["Gifts for a wedding, birthday or other occasion the investigators have not declared in rpa.toml [[events]] (declared occasions of the receiver or his family are left out): declare it and rescan", "Parents or relatives not declared as family in relations.csv sending a child several 200-yuan New Year packets", "Repaying a loan or an advance in 200-yuan packets (ask for the reason; a transfer would have been the natural way)", "A couple not declared as family exchanging several 520s on 5-20", "Two runs of the same pair less than the window apart are reported as one run: read its span"]
-- reason_zh = "{sender_label}于{span_minutes}分钟内向{receiver_label}连发接近上限的红包{txn_count}个（每个≥¥{near_amount}；当日单个红包上限¥{cap_amount}），共¥{total_amount}（阈值：{window_minutes}分钟内≥{min_packets}个且合计≥¥{threshold_amount}，即当日上限的{min_total_caps}倍；超出{excess_packets}个、¥{excess_amount}）{relation_note_zh}"
-- reason_en = "{sender_label} sent {receiver_label} {txn_count} red packets near the cap (each ≥ ¥{near_amount}; the day's single-packet cap is ¥{cap_amount}) within {span_minutes} minutes, totalling ¥{total_amount} (threshold: ≥ {min_packets} packets within {window_minutes} minutes and ≥ ¥{threshold_amount} in all, {min_total_caps} × the day's cap; exceeded by {excess_packets} packet(s) and ¥{excess_amount}){relation_note_en}"
-- internal = ["sender", "receiver", "relation_note_zh", "relation_note_en"]
--
-- [params.cap]
-- default = 200.0
-- description = "largest ordinary WeChat red packet, in yuan (domain.md §1 W2)"
-- [params.cap_special]
-- default = 520.0
-- description = "largest packet on the days in cap_days (2-14, 5-20, 七夕), in yuan (domain.md §1 W3)"
-- [params.near_ratio]
-- default = 0.8
-- description = "a packet counts when its amount is at least this share of the ordinary cap: 0.8 × 200 = 160 keeps 168, 188, 199.99 and 200 and leaves the usual 66/88/100/128 greetings out"
-- [params.window_minutes]
-- default = 60
-- description = "the packets of a run lie within this many minutes of its first packet (runs closer than this are joined)"
-- [params.min_packets]
-- default = 3
-- description = "packets at or near the cap in one run"
-- [params.min_total_caps]
-- default = 2.0
-- description = "the run's sum must reach this many times the day's cap (2 × 200 = 400; 2 × 520 = 1,040 on cap days)"
--
-- [labels.sender_label]
-- zh = "发包人"
-- en = "Sender"
-- [labels.receiver_label]
-- zh = "收包人"
-- en = "Receiver"
-- [labels.receiver_official]
-- zh = "收包人为公职人员"
-- en = "Receiver is an official"
-- [labels.sender_official]
-- zh = "发包人为公职人员"
-- en = "Sender is an official"
-- [labels.sender_relation]
-- zh = "发包人与收包人关系"
-- en = "Sender's relation to the receiver"
-- [labels.cap_amount]
-- zh = "单个红包上限（元）"
-- en = "Packet cap (yuan)"
-- [labels.near_amount]
-- zh = "接近上限起点（元）"
-- en = "Near the cap from (yuan)"
-- [labels.threshold_amount]
-- zh = "合计阈值（元）"
-- en = "Total threshold (yuan)"
-- [labels.span_minutes]
-- zh = "时间跨度（分钟）"
-- en = "Span (minutes)"
-- [labels.excess_packets]
-- zh = "超出阈值个数"
-- en = "Packets over the threshold"
-- [labels.excess_amount]
-- zh = "超出阈值金额（元）"
-- en = "Amount over the threshold (yuan)"

WITH near AS (
    -- 1:1 red packets that were accepted (an unclaimed packet comes back as 'refunded',
    -- or as a refund row pointing at it) and carry at least near_ratio × the ordinary cap.
    -- The cap of the day decides only how large the run's sum must be.
    SELECT m.id, m.ts, m.amount, m.payer_party AS sender, m.payee_party AS receiver,
           CASE WHEN m.day IN (SELECT day FROM cap_days) THEN $cap_special ELSE $cap END AS day_cap
    FROM mv AS m
    WHERE m.kind = 'red_packet'
      AND m.status NOT IN ('refunded', 'returned')
      AND m.amount >= $near_ratio * $cap
      AND m.payer_party IS NOT NULL AND m.payee_party IS NOT NULL
      AND m.payer_party <> m.payee_party
      -- a refund row naming this movement (an equality join on the id: linear)
      AND NOT EXISTS (
          SELECT 1 FROM mv AS r
          WHERE r.kind = 'refund' AND r.refund_of = m.id AND r.amount >= m.amount
      )
      AND NOT EXISTS (
          SELECT 1 FROM rel AS f
          WHERE f.relation = 'family' AND f.person_id = m.payer_person AND f.other_id = m.payee_person
      )
      -- at a declared occasion of the receiver or of his family (a wedding, a birthday:
      -- occasion_owners), a gift larger than the cap has to be paid in several packets:
      -- that is custom, not a split to hide it. Gifts from an official's subordinates and
      -- service objects at his or his family's occasion are occasion_collection's.
      AND NOT EXISTS (
          SELECT 1 FROM occasion_owners AS o
          WHERE o.person_id = m.payee_person AND m.day BETWEEN o.day_from AND o.day_to
      )
),
starts AS (
    -- Each packet as the first of a window of window_minutes: how many qualifying packets
    -- of the same pair the window holds, their sum, and the largest cap among their days.
    SELECT near.*,
           count(*) OVER w AS n_ahead,
           sum(amount) OVER w AS sum_ahead,
           max(day_cap) OVER w AS cap_ahead
    FROM near
    WINDOW w AS (PARTITION BY sender, receiver ORDER BY ts
                 RANGE BETWEEN CURRENT ROW AND $window_minutes * INTERVAL 1 MINUTE FOLLOWING)
),
covered AS (
    -- A packet belongs to a run when some window that passes both thresholds contains
    -- it, i.e. a passing window starts at most window_minutes before it.
    SELECT starts.*,
           max(CASE WHEN n_ahead >= $min_packets AND sum_ahead >= $min_total_caps * cap_ahead THEN ts END)
               OVER (PARTITION BY sender, receiver ORDER BY ts
                     RANGE BETWEEN $window_minutes * INTERVAL 1 MINUTE PRECEDING AND CURRENT ROW) AS passing_start
    FROM starts
),
marked AS (
    -- Number the runs: a new run starts when the previous covered packet of the pair
    -- is more than window_minutes earlier.
    SELECT id, ts, amount, sender, receiver, day_cap,
           CASE WHEN lag(ts) OVER (PARTITION BY sender, receiver ORDER BY ts, id) IS NULL
                  OR lag(ts) OVER (PARTITION BY sender, receiver ORDER BY ts, id) < ts - $window_minutes * INTERVAL 1 MINUTE
                THEN 1 ELSE 0 END AS new_run
    FROM covered
    WHERE passing_start IS NOT NULL
),
runs AS (
    SELECT marked.*,
           sum(new_run) OVER (PARTITION BY sender, receiver ORDER BY ts, id ROWS UNBOUNDED PRECEDING) AS run_no
    FROM marked
),
agg AS (
    SELECT sender, receiver, run_no,
           min(ts) AS start_ts, max(ts) AS end_ts,
           sum(amount) AS total_amount, count(*) AS n_packets,
           array_agg(id ORDER BY ts, id) AS evidence,
           max(day_cap) AS cap_amount
    FROM runs
    GROUP BY sender, receiver, run_no
),
labelled AS (
    SELECT a.*,
           CAST($min_total_caps * a.cap_amount AS DECIMAL(18, 2)) AS threshold_amount,
           coalesce(pr.official, FALSE) AS receiver_official,
           coalesce(ps.official, FALSE) AS sender_official,
           -- the sender is the receiver's subordinate or service object (relations.csv)
           (SELECT min(r.relation) FROM rel AS r
            WHERE r.person_id = a.sender AND r.other_id = a.receiver
              AND r.relation IN ('subordinate', 'service_object')) AS sender_relation
    FROM agg AS a
    LEFT JOIN people AS ps ON ps.person_id = a.sender
    LEFT JOIN people AS pr ON pr.person_id = a.receiver
)
SELECT
    -- an official receiving is the investigation's subject; otherwise the one who split
    CASE WHEN receiver_official THEN receiver ELSE sender END AS subject,
    CASE WHEN receiver_official THEN [sender] ELSE [receiver] END AS counterparties,
    CAST(NULL AS VARCHAR) AS window_name,
    start_ts,
    end_ts,
    total_amount,
    n_packets AS txn_count,
    evidence,
    -- 60 at the thresholds; +10 per packet and +20 per further threshold's worth of money beyond them
    round(least(100, 60 + 10 * (n_packets - $min_packets) + 20 * (total_amount - threshold_amount) / threshold_amount), 1) AS score,
    -- an official on the receiving end, or a giver who depends on the receiver, is what
    -- 第九十七条 is about: high; packets between private persons stay medium
    CASE WHEN receiver_official OR sender_relation IS NOT NULL THEN 'high' ELSE 'medium' END AS severity,
    sender,
    receiver,
    receiver_official,
    sender_official,
    sender_relation,
    cap_amount,
    CAST($near_ratio * $cap AS DECIMAL(18, 2)) AS near_amount,
    threshold_amount,
    date_diff('minute', start_ts, end_ts) AS span_minutes,
    n_packets - $min_packets AS excess_packets,
    total_amount - threshold_amount AS excess_amount,
    CASE WHEN sender_relation = 'subordinate' THEN '；发包人是收包人的下属'
         WHEN sender_relation = 'service_object' THEN '；发包人是收包人的管理服务对象'
         WHEN receiver_official THEN '；收包人是公职人员'
         ELSE '' END AS relation_note_zh,
    CASE WHEN sender_relation = 'subordinate' THEN '; the sender is a subordinate of the receiver'
         WHEN sender_relation = 'service_object' THEN '; the sender is a service object of the receiver'
         WHEN receiver_official THEN '; the receiver is an official'
         ELSE '' END AS relation_note_en
FROM labelled
