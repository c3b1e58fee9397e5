// Sample payloads, one per Influencer Hero event type, as the public API reference shows them
// (../shared/influencer-hero/events), kept in code so the compiled binary carries them for
// send-test, render and the tests. `new_influencer_post` and `media_kpi_updated` have no public
// schema: their samples are illustrative only.

import type { Payload } from "./events.ts";

/** The deal summary every sample carries. */
const DEAL_INFO = {
  "deal_name": "therock",
  "is_active": true,
  "dealflow_funnel_step": 3,
  "dealflow_type": "outreach",
  "dealflow_name": "Spring Collection Promo",
  "picture_url":
    "https://imgp.sptds.icu/v2?mb0KwpL92uYofJiSjDn1%2F6peL1lBwv3s%2BUvShHERlDbrEEwrWumIvR20xZeZXa0LDeIrcniqZeG9S%2F1a5s2Rx3FZdXrWpY%2BmSBJp1l%2FmBGon3rcHA4EfuatZqMhVBzAT",
  "nr_followers": 60000,
  "full_name": "Dwayne Johnson",
  "platform": "instagram",
  "profile_url": "https://instagram.com/therock",
};

/** The built-in sample payload of each known event type. */
export const SAMPLES: Readonly<Record<string, Payload>> = {
  new_email_sent: {
    "webhook_timestamp": "1693427202",
    "email_information": {
      "sent_from_email_account": "brand@mycompany.com",
      "recipient": "influencer@example.com",
      "cc_address": "manager@example.com",
      "email_subject": "Collaboration Proposal",
      "email_body": "Hello, I would like to collaborate on our spring launch.",
      "sent_by_user": "Alex from MyCompany",
    },
    deal_info: DEAL_INFO,
    "deal_id": "deal12345",
  },
  new_influencer_order: {
    "order_information": {
      "order_id": "5123456789",
      "order_name": "Order #1234",
      "order_revenue": 149.99,
      "order_currency": "USD",
      "account_currency": "USD",
      "account_currency_revenue": 149.99,
      "paid_commission": 15.0,
      "commission_rate": 0.1,
      "discount_codes": "FIT2024",
      "platform": "shopify",
      "match_types": "discount_code",
      "order_timestamp": "2025-01-16T09:15:00Z",
    },
    deal_info: DEAL_INFO,
    "deal_id": "deal12345",
  },
  new_influencer_reply: {
    "email_information": {
      "from_addr": "janedoe@example.com",
      "recipient": "brand@mycompany.com",
      "cc_address": "team@mycompany.com",
      "email_subject": "Re: Collaboration Proposal",
      "email_body": "Thank you for reaching out. I would love to discuss more details...",
      "received_time": "2025-01-16 09:15:00",
    },
    deal_info: DEAL_INFO,
    "deal_id": "deal12345",
    "deal_url": "https://app.influencer-hero.com/deal/deal12345",
  },
  new_max_bid: {
    "webhook_timestamp": "1693427202",
    "max_bid_information": {
      "max_bid_comment": "Please provide the highest possible bid for this influencer.",
    },
    deal_info: DEAL_INFO,
    "deal_id": "DEAL-67890",
  },
  new_payout_request: {
    "payout_information": {
      "payout_comment": "January bonus payment",
      "brand_id": "12345",
      "payout_currency": "USD",
      "payout_amount": 1500,
    },
    deal_info: DEAL_INFO,
    "deal_id": "DEAL-67890",
  },
  product_sent: {
    "send_product_info": {
      "line_items": [{
        "variant_id": 44012345678,
        "quantity": 1,
        "variant_name": "Protein Shaker - Black",
      }, { "variant_id": 44012345679, "quantity": 2, "variant_name": "Whey 1kg - Vanilla" }],
      "customer": { "first_name": "Dwayne", "last_name": "Johnson", "email": "dwayne@example.com" },
      "shipping_address": {
        "name": "Dwayne Johnson",
        "first_name": "Dwayne",
        "last_name": "Johnson",
        "address1": "1 Example Street",
        "city": "Miami",
        "zip": "33101",
        "country_code": "US",
      },
      "phone": "555-555-5555",
    },
    deal_info: DEAL_INFO,
    "deal_id": "DEAL-12345",
  },
  update_commission: {
    "webhook_timestamp": "1693427202",
    "commission_information": { "old_commission_perc": 10, "new_commission_perc": 15 },
    "collab_id": "collab987",
    "deal_id": "xyz789",
    deal_info: DEAL_INFO,
    "is_ch_collab": false,
  },
  update_custom_link: {
    "webhook_timestamp": "1693427202",
    "custom_link_information": {
      "old_custom_link": "/the-old-link",
      "old_custom_link_target": "https://old.example.com",
      "new_custom_link": "/the-new-link",
      "new_custom_link_target": "https://new.example.com",
    },
    deal_info: DEAL_INFO,
    "collab_id": "collab123",
    "deal_id": "deal321",
  },
  update_discount_code: {
    "webhook_timestamp": "1693427202",
    "code_information": {
      "old_discount_code": "FIT2023",
      "old_discount_perc": 15,
      "new_discount_code": "FIT2024",
      "new_discount_perc": 20,
    },
    "collab_id": "collab987",
    deal_info: DEAL_INFO,
    "deal_id": "xyz789",
  },
  new_influencer_post: {
    "post_information": {
      "post_url": "https://instagram.com/p/Cx1Example",
      "post_type": "reel",
      "caption": "Loving the new shaker from @mycompany #ad",
      "posted_at": "1693427202",
    },
    deal_info: DEAL_INFO,
    "deal_id": "deal12345",
  },
  media_kpi_updated: {
    "media_information": {
      "post_url": "https://instagram.com/p/Cx1Example",
      "views": 125000,
      "likes": 8400,
      "comments": 312,
    },
    deal_info: DEAL_INFO,
    "deal_id": "deal12345",
  },
};
