"""Word lists and distributions the generator draws from (kept apart so the generator reads as logic)."""

FIRST_NAMES = ["Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farah", "Gustavo", "Hana", "Ivan", "Jana", "Kofi", "Lena",
               "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena",
               "Yusuf", "Zoe", "Aisha", "Bruno", "Carmen", "Diego", "Emma", "Felix", "Greta", "Hugo", "Ines", "Jonas"]
LAST_NAMES = ["Okafor", "Schmidt", "Tanaka", "Novak", "Garcia", "Kowalski", "Haddad", "Larsen", "Moreau", "Rossi",
              "Nguyen", "Patel", "Silva", "Ivanova", "Kim", "Jensen", "Murphy", "Dubois", "Fischer", "Costa",
              "Yilmaz", "Andersson", "Bianchi", "Chen", "Mendes", "Hoffmann", "Sato", "Eriksen", "Lopez", "Weber"]
ORG_WORDS_A = ["Blue", "North", "Bright", "Quiet", "Swift", "Clear", "Iron", "Silver", "Open", "Lumen", "Polar", "Cedar",
               "Harbor", "Summit", "Vector", "Nimbus", "Atlas", "Beacon", "Coral", "Delta"]
ORG_WORDS_B = ["Health", "Logistics", "Labs", "Legal", "Robotics", "Media", "Finance", "Retail", "Energy", "Studios",
               "Analytics", "Clinic", "Foods", "Systems", "Partners", "Travel", "Insurance", "Education"]
# (timezone, UTC offset in hours used to place business hours, country)
TIMEZONES = [("America/New_York", -5, "US"), ("America/Los_Angeles", -8, "US"), ("Europe/Berlin", 1, "DE"),
             ("Europe/London", 0, "GB"), ("Europe/Paris", 1, "FR"), ("Asia/Tokyo", 9, "JP"),
             ("Australia/Sydney", 10, "AU"), ("America/Sao_Paulo", -3, "BR"), ("Asia/Kolkata", 5, "IN")]
# The first organizations' zones, in this order, so a seed of seven organizations covers every calendar
# the analytics and billing must get right: UTC-10 (no daylight saving), UTC+9, UTC+13 in November
# (daylight saving, the date line's other side), UTC itself, UTC-5 and UTC+1 (both with daylight
# saving) and UTC+5:30. The small test seed (four organizations) has the first four.
SEED_ZONES = [("Asia/Tokyo", 9, "JP"), ("Pacific/Honolulu", -10, "US"), ("Pacific/Auckland", 13, "NZ"),
              ("UTC", 0, "GB"), ("America/New_York", -5, "US"), ("Europe/Berlin", 1, "DE"),
              ("Asia/Kolkata", 5.5, "IN")]
# Share of calls placed around local midnight (23:15 to 00:45), where a UTC calendar splits days wrongly.
LOCAL_MIDNIGHT_CALL_SHARE = 0.05
FOREIGN_COUNTRIES = ["RU", "CN", "NG", "KP", "IR", "VN", "RO", "UA"]
PLAN_MIX = {"free": 0.6, "pro": 0.3, "enterprise": 0.1}
# users per organization (low, high) and calls per user per weekday
PLAN_SHAPE = {"free": (1, 5, 0.6), "pro": (5, 40, 0.5), "enterprise": (40, 200, 0.35)}
REGIONS = ["us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-northeast-1"]
# codec names as the call-quality tables and the MOS model know them, with their share of samples
CODECS = {"opus": 0.85, "g722": 0.08, "g711": 0.05, "g729": 0.02}
# AI features: (provider, model) drawn per feature, weighted; priced from the price book
AI_MODELS = {
    "stt": [("openai", "whisper-1", 0.5), ("deepgram", "nova-2", 0.3), ("openai", "gpt-4o-mini-transcribe", 0.2)],
    "tts": [("openai", "tts-1", 0.7), ("elevenlabs", "eleven_turbo_v2", 0.3)],
    "llm": [("openai", "gpt-4o", 0.45), ("openai", "gpt-4o-mini", 0.35), ("anthropic", "claude-3-5-haiku", 0.2)],
    "agents": [("openai", "gpt-4o-realtime", 0.6), ("openai", "gpt-4o-mini-realtime", 0.4)],
}
# AI events per active user per day, by plan
AI_RATE = {"free": 0.3, "pro": 1.2, "enterprise": 2.0}
# Everyday audit actions (action, resource_type, weight)
AUDIT_ACTIONS = [("auth.login", "session", 30), ("auth.logout", "session", 12), ("call.started", "call", 20),
                 ("recording.viewed", "recording", 9), ("transcript.viewed", "transcript", 8),
                 ("report.viewed", "report", 8), ("settings.updated", "organization", 4),
                 ("member.invited", "user", 2), ("data.export", "recording", 1), ("auth.login_failed", "session", 3),
                 ("api_key.created", "api_key", 0.3), ("member.role_changed", "user", 0.3)]
USER_AGENTS = ["Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
               "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
               "AuraLink-iOS/5.2.1", "AuraLink-Android/5.2.0", "auralink-cli/1.4.0"]
ROLE_PERMISSIONS = {
    "owner": [("organization", "manage"), ("billing", "manage"), ("members", "manage"), ("recordings", "read"),
              ("recordings", "delete"), ("transcripts", "read"), ("reports", "manage"), ("audit_logs", "read"),
              ("compliance", "manage"), ("api_keys", "manage")],
    "admin": [("members", "manage"), ("recordings", "read"), ("recordings", "delete"), ("transcripts", "read"),
              ("reports", "manage"), ("audit_logs", "read"), ("api_keys", "manage")],
    "member": [("recordings", "read"), ("transcripts", "read"), ("reports", "read")],
    "viewer": [("reports", "read")],
    "billing_admin": [("billing", "manage"), ("reports", "read")],
    "compliance_officer": [("compliance", "manage"), ("audit_logs", "read"), ("recordings", "read")],
}
REPORT_TEMPLATES = [
    ("Weekly call minutes", {"metrics": [{"column": "call_minutes", "agg": "sum"}], "dimensions": ["day"],
                             "filters": [], "date_range": {"last_days": 7}, "chart": {"type": "line"}},
     "0 6 * * 1", ["csv", "pdf"]),
    ("Video calls by day", {"metrics": [{"column": "calls", "agg": "sum"}], "dimensions": ["day"],
                            "filters": [{"column": "call_type", "op": "=", "value": "video"}],
                            "date_range": {"last_days": 30}, "chart": {"type": "bar"}},
     "0 7 * * *", ["json"]),
    ("Monthly AI spend", {"metrics": [{"column": "ai_cost_usd", "agg": "sum"}], "dimensions": ["feature"],
                          "filters": [], "date_range": {"last_days": 30}, "chart": {"type": "bar"}},
     "0 8 1 * *", ["pdf", "csv"]),
    ("Call quality", {"metrics": [{"column": "mos", "agg": "avg"}, {"column": "calls", "agg": "sum"}],
                      "dimensions": ["day"], "filters": [], "date_range": {"last_days": 14}, "chart": {"type": "line"}},
     "30 9 * * 1-5", ["csv"]),
]
