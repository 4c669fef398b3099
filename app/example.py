"""The commented example config that `yuqing init` writes."""

EXAMPLE_CONFIG = """\
# yuqing configuration — monitors one real institution on real public sources.
# Precedence: built-in defaults < this file < environment variables < command-line flags.
# Secrets never go in this file: set YUQING_SMTP_PASSWORD, YUQING_ES_API_KEY / YUQING_ES_PASSWORD,
# the webhook secrets named by `secret_env` and the site cookies named by `cookie_env` in the environment.

# Dates in search, schedules and reports use this IANA time zone.
timezone: Asia/Shanghai

# The institutions to watch. `aliases` are the other names people use (short names, products,
# English names); `exclude` lists words that mark a false match (a place, another company).
institutions:
  - name: 招商银行
    aliases: [招行, 招商银行信用卡, 掌上生活, 招商银行股份有限公司]
    exclude: [招商局, 招商证券, 招商蛇口]

# Where mentions come from. Each source has a unique name, a type, a schedule ("30m", "2h", or a
# five-field cron expression such as "0 9 * * mon") and type-specific params.
sources:
  # Any RSS 2.0 or Atom feed; only items that mention an institution above are kept.
  - name: chinanews-finance
    type: rss
    schedule: 30m
    params:
      url: https://www.chinanews.com.cn/rss/finance.xml

  # Weibo search (m.weibo.cn); keywords default to every institution name and alias.
  - name: weibo
    type: weibo
    schedule: 20m
    params:
      keywords: [招商银行, 招行信用卡]
      max_pages: 3
      cookie_env: YUQING_WEIBO_COOKIE   # env var holding your browser's Cookie for the site (crawlers/README.md)

  # 黑猫投诉 complaints (tousu.sina.com.cn) that name the institution.
  - name: heimao
    type: heimao
    schedule: 1h
    params:
      keywords: [招商银行]
      cookie_env: YUQING_HEIMAO_COOKIE  # env var holding your browser's Cookie for the site (crawlers/README.md)

  # Eastmoney Guba stock board: board code -> the institution it is about.
  - name: guba-600036
    type: guba
    schedule: 1h
    params:
      boards: {"600036": 招商银行}

  # Baidu Tieba forums.
  - name: tieba
    type: tieba
    schedule: 2h
    params:
      forums: [招商银行, 信用卡]

  # Any other site, described by selectors (CSS, or XPath starting with "/" or "xpath:"):
  # - name: some-forum
  #   type: html
  #   schedule: 1h
  #   params:
  #     start_urls: [https://bbs.example.com/forum-12-1.html]
  #     list_item: "tbody[id^=normalthread]"
  #     link: "a.xst::attr(href)"
  #     next_page: "a.nxt::attr(href)"
  #     max_pages: 3
  #     encoding: gbk
  #     detail:
  #       title: "#thread_subject::text"
  #       content: "td.t_f"
  #       author: "div.authi a.xw1::text"
  #       published_at: "em[id^=authorposton]::text"
  #     date_format: "%Y-%m-%d %H:%M"

# Where mentions are stored: the embedded SQLite file (DATA_DIR/yuqing.db) needs no setup.
# For Elasticsearch, set backend: elasticsearch, then run `yuqing index setup` once.
store:
  backend: sqlite
  # sqlite: {path: /var/lib/yuqing/yuqing.db}
  # elasticsearch:
  #   url: https://es.example.com:9200   # or YUQING_ES_URL; API key from YUQING_ES_API_KEY
  #   username: yuqing                   # basic auth; password from YUQING_ES_PASSWORD
  #   ca_file: /etc/ssl/certs/es-ca.pem
  #   index_prefix: yuqing

# Spike alerts: a rule watches mentions of one polarity per time bucket and fires when the latest
# bucket is far above what the history predicts; one spike gives one alert (cooldown).
alerts:
  channels:
    - {name: crisis-email, type: email, to: [crisis-team@example.com]}
    # - {name: wecom, type: wecom, webhook: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."}
    # - {name: dingtalk, type: dingtalk, webhook: "https://oapi.dingtalk.com/robot/send?access_token=...",
    #    secret_env: YUQING_DINGTALK_SECRET}
    # - {name: feishu, type: feishu, webhook: "https://open.feishu.cn/open-apis/bot/v2/hook/..."}
    # - {name: ops, type: webhook, url: "https://ops.example.com/hooks/yuqing"}
  rules:
    - name: negative-spike
      type: spike
      polarity: negative
      institution: "*"     # every institution above
      bucket: 1h
      history: 21d         # the weekly profile (quiet weekends) needs two weeks
      min_count: 5         # never alert on fewer negative mentions than this in one bucket
      threshold: 0.95      # anomaly score from 0 to 1
      cooldown: 6h
      channels: [crisis-email]

# The weekly sentiment digest (HTML email with charts), Monday 09:00 local time by default.
# A recipient may be limited to some institutions; the daily brief (yesterday) is off by default.
digest:
  recipients:
    - pr-team@example.com
    - {address: risk@example.com, institutions: [招商银行]}
  schedule: "0 9 * * mon"
  title: 招商银行舆情周报
  daily: {enabled: false, schedule: "0 8 * * *", title: 招商银行舆情日报}

# Outgoing mail. security: none | starttls | ssl; password from YUQING_SMTP_PASSWORD.
smtp:
  host: smtp.example.com
  port: 465
  security: ssl
  username: yuqing@example.com
  sender: yuqing@example.com
"""
