"""The seeds' own example payloads (shared/seeds/000_* and 002_*), copied verbatim.

One copy for every test that needs them: the golden renderer tests and the receiver SDK's
parser tests. They are an oracle independent of ``statushooks.events``' own examples. The one
change: the email seed's recipient is an email-obfuscation artefact of the page it was copied
from ("[email protected]"), here "user@example.com".
"""

from __future__ import annotations

SEED_000_FAILED = """
{
"specversion": "1.0",
"type": "com.interact.messages.sms.status",
"source": "https://api.webexinteract.com/v1/sms",
"id": "evt_2z020YIp98J0ow5egHEVQJQd2Sx",
"time": "2025-06-25T12:10:47Z",
"datacontenttype": "application/json",
"data": {
"status": "failed",
"channel": "sms",
"phone_number": "+447810000001",
"from": "Name",
"message_body": "This is your message",
"message_parts": "1",
"scheduled_at": "2025-06-30T12:08:43Z",
"list_id": "18920476",
"custom_id": "123",
"campaign_name": "Some campaign",
"campaign_id": "cmp_214r8u4981u498"
},
"correlation_id": "anexternallyassignedreference",
"transaction_id": "tid_35T5b3cQmfqTu6jcedrdVcSmNHr"
}
"""

SEED_002_EMAIL = """
{
"id": "evt_djeIQXaQPQyUcRFi",
"type": "email.delivery.updated",
"apiVersion": "v2",
"createTime": "2022-03-01T12:00:00.000Z",
"emailDelivery": {
"emailId": "em123456",
"recipientAddress": "user@example.com",
"status": "failed",
"errorCode": "402",
"errorMessage": "Unsubscribes",
"externalId": "ext_1234567890"
}
}
"""

SEED_002_SMS = """
{
"id": "evt_djeIQXaQPQyUcRFi",
"type": "sms.message.updated",
"apiVersion": "v2",
"createTime": "2022-03-01T12:00:00.000Z",
"sms": {
"id": "string",
"to": "+447901614024",
"status": "delivered",
"text": "Your verification code is 123456.",
"senderId": "YCloud",
"regionCode": "GB",
"totalSegments": 1,
"totalPrice": 0.0085,
"currency": "USD",
"createTime": "2022-03-01T12:00:00.000Z",
"updateTime": "2022-03-01T12:00:00.000Z"
}
}
"""

SEED_002_VOICE = """
{
"id": "evt_djeIQXaQPQyUcRFi",
"type": "voice.message.updated",
"apiVersion": "v2",
"createTime": "2022-03-01T12:00:00.000Z",
"voice": {
"id": "v123456",
"to": "+447901614024",
"status": "delivered",
"verificationCode": "1234",
"language": "en",
"regionCode": "GB",
"totalPrice": 0.0085,
"currency": "USD",
"errorCode": "Error code when the message is undeliverable.",
"createTime": "2022-03-01T12:00:00.000Z",
"updateTime": "2022-03-01T12:00:00.000Z",
"externalId": "ext_123456"
}
}
"""

# Webex Interact reference, "Inbound SMS Events" (docs.webexinteract.com/reference/
# inbound-sms-events): the payload sample, verbatim (the page leaves out the closing brace).
INTERACT_INBOUND = """
{
  "specversion": "1.0",
  "type": "com.interact.messages.sms.status",
  "source": "https://api.webexinteract.com/v1/sms",
  "id": "evt_2z01rKkdxq3oKzf013lxmn127v8",
  "time": "2025-06-25T12:09:33Z",
  "datacontenttype": "application/json",
  "data": {
    "status": "inbound",
    "channel": "sms",
    "message": "I'd like to SUBSCRIBE to your EVENTS newsletters",
    "phone_number": "+447838970000",
    "inbound_number": "+447860000000",
    "inbound_number_id": "num_2yuxhMhvveEjsqYuHm68rslycA8",
    "opt_ins": [
      {
        "opt_in": "Newsletter Signup",
        "keyword": "SUBSCRIBE",
        "target_lists": [
          "Monthly Newsletter",
          "Promotions"
        ]
      },
      {
        "opt_in": "Event Alerts",
        "keyword": "EVENTS",
        "target_lists": [
          "Local Events"
        ]
      }
    ]
  },
  "correlation_id": "cid_2z01rLJP7wm5KhVPuvvUj0TfvwT"
}
"""

# Webex Interact reference, "SMS Opt Out Received" (docs.webexinteract.com/reference/
# sms-opt-out-received): the payload sample, verbatim.
INTERACT_OPT_OUT = """
{
  "specversion": "1.0",
  "type": "com.interact.messages.sms.opt.out",
  "source": "https://api.webexinteract.com/v1/sms",
  "id": "evt_36Ko1hKxBAQ7X9VrGoBxPoK7Om0",
  "time": "2025-12-03T12:20:10Z",
  "datacontenttype": "application/json",
  "data": {
    "status": "opt_out",
    "channel": "sms",
    "message": "STOP",
    "type": "keyword",
    "phone_number": "+447807127129",
    "inbound_number": "+447807127121",
    "inbound_number_id": "num_36IR2Jpl1u1wOuRBgmMmoMhawjE",
    "account_level_opt_out": false,
    "opt_out_time": "2025-12-03T12:20:10Z"
  }
}
"""

# YCloud reference, ``sms.inbound.received`` (docs.ycloud.com/en/api-reference/
# webhook-reference/sms-inbound-received): the page's shape with its placeholders filled in
# (the ``SmsInbound`` object of YCloud's OpenAPI: id, from, to, text, sendTime).
YCLOUD_SMS_INBOUND = """
{
  "id": "evt_djeIQXaQPQyUcRFi",
  "type": "sms.inbound.received",
  "apiVersion": "v2",
  "createTime": "2022-06-01T12:00:00.000Z",
  "smsInbound": {
    "id": "inb_2z01rKkdxq3oKzf013lxmn127v8",
    "from": "+447901614024",
    "to": "+447860000000",
    "text": "Yes, see you then.",
    "sendTime": "2022-06-01T12:00:00.000Z"
  }
}
"""
