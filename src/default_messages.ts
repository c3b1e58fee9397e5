// The built-in message of every known event type: who (name, handle, platform, followers,
// profile, picture), what changed (old → new) and the deal. Plain text; destinations escape it.

/** Liquid sources of a field. */
export interface FieldSource {
  name: string;
  value: string;
  inline?: boolean | undefined;
}

/** Liquid sources of a message's parts. */
export interface MessageSources {
  title?: string;
  text?: string;
  fields?: FieldSource[];
  link_url?: string;
  link_label?: string;
  image?: string;
  author_name?: string;
  author_url?: string;
  author_icon?: string;
  color?: string;
}

const NAME = "{{ deal_info.full_name | default: deal_info.deal_name | default: 'An influencer' }}";

/** "Dwayne Johnson (@therock)", or just the handle or name that is known. */
const WHO = "{% if deal_info.full_name and deal_info.deal_name %}" +
  "{{ deal_info.full_name }} (@{{ deal_info.deal_name }})" +
  "{% elsif deal_info.deal_name %}@{{ deal_info.deal_name }}" +
  "{% else %}{{ deal_info.full_name }}{% endif %}";

const PLATFORM = "{{ deal_info.platform | capitalize }}" +
  "{% if deal_info.nr_followers %}{% if deal_info.platform %} · {% endif %}" +
  "{{ deal_info.nr_followers | compact }} followers{% endif %}";

const CAMPAIGN = "{{ deal_info.dealflow_name }}";

const COMMON = {
  author_name: WHO,
  author_url: "{{ deal_info.profile_url }}",
  author_icon: "{{ deal_info.picture_url }}",
  image: "",
  link_url: "{{ deal_url | default: deal_info.profile_url }}",
  link_label: "{% if deal_url %}Open deal in Influencer Hero{% else %}View profile{% endif %}",
} satisfies MessageSources;

function who(extra: FieldSource[] = []): FieldSource[] {
  return [
    ...extra,
    { name: "Influencer", value: WHO },
    { name: "Platform", value: PLATFORM },
    { name: "Campaign", value: CAMPAIGN },
  ];
}

/** Default message sources per event type. */
export const DEFAULT_MESSAGES: Readonly<Record<string, MessageSources>> = {
  update_commission: {
    ...COMMON,
    color: "#2eb67d",
    title: `Commission {% if commission_information.old_commission_perc == nil %}set{% else %}` +
      `changed{% endif %} for ${NAME}`,
    text: "{% assign c = commission_information %}" +
      "{% if c.old_commission_perc == nil %}Commission is now {{ c.new_commission_perc | percent }}." +
      "{% else %}Commission changed from {{ c.old_commission_perc | percent }} to " +
      "{{ c.new_commission_perc | percent }}.{% endif %}",
    fields: who([
      {
        name: "Commission",
        value: "{% assign c = commission_information %}" +
          "{% if c.old_commission_perc == nil %}none{% else %}{{ c.old_commission_perc | percent }}" +
          "{% endif %} → {{ c.new_commission_perc | percent }}",
      },
      {
        name: "Collaboration",
        value: "{{ collab_id }}{% if is_ch_collab %} (Creator Hero){% endif %}",
      },
      { name: "Deal", value: "{{ deal_id }}" },
    ]),
  },
  update_discount_code: {
    ...COMMON,
    color: "#ecb22e",
    title: `Discount code {% if code_information.old_discount_code %}changed{% else %}assigned` +
      `{% endif %} for ${NAME}`,
    text: "{% assign c = code_information %}" +
      "{% if c.old_discount_code %}Code {{ c.old_discount_code }}" +
      "{% if c.old_discount_perc != nil %} ({{ c.old_discount_perc | percent }} off){% endif %} " +
      "was replaced by {% else %}New code {% endif %}{{ c.new_discount_code }}" +
      "{% if c.new_discount_perc != nil %} ({{ c.new_discount_perc | percent }} off){% endif %}.",
    fields: who([
      {
        name: "Code",
        value: "{% assign c = code_information %}{{ c.old_discount_code | default: 'none' }} → " +
          "{{ c.new_discount_code | default: 'none' }}",
      },
      {
        name: "Discount",
        value: "{% assign c = code_information %}" +
          "{% if c.old_discount_perc != nil %}{{ c.old_discount_perc | percent }}{% else %}none" +
          "{% endif %} → {{ c.new_discount_perc | percent }}",
      },
      { name: "Collaboration", value: "{{ collab_id }}" },
      { name: "Deal", value: "{{ deal_id }}" },
    ]),
  },
  update_custom_link: {
    ...COMMON,
    color: "#36c5f0",
    title: "{% assign c = custom_link_information %}Affiliate link " +
      "{% if c.new_custom_link == nil %}removed{% elsif c.old_custom_link == nil %}assigned" +
      `{% else %}changed{% endif %} for ${NAME}`,
    text: "{% assign c = custom_link_information %}" +
      "{% if c.new_custom_link == nil %}The link {{ c.old_custom_link }} was deleted." +
      "{% else %}{{ c.new_custom_link }} now points to {{ c.new_custom_link_target }}.{% endif %}",
    fields: who([
      {
        name: "Link",
        value:
          "{% assign c = custom_link_information %}{{ c.old_custom_link | default: 'none' }} → " +
          "{{ c.new_custom_link | default: 'none' }}",
      },
      {
        name: "Target",
        value: "{% assign c = custom_link_information %}" +
          "{{ c.old_custom_link_target | default: 'none' }} → " +
          "{{ c.new_custom_link_target | default: 'none' }}",
        inline: false,
      },
      { name: "Collaboration", value: "{{ collab_id }}" },
    ]),
  },
  new_payout_request: {
    ...COMMON,
    color: "#e01e5a",
    title: `Payout requested by ${NAME}: ` +
      "{{ payout_information.payout_amount | money: payout_information.payout_currency }}",
    text: "{{ payout_information.payout_comment }}",
    fields: who([
      {
        name: "Amount",
        value: "{{ payout_information.payout_amount | money: payout_information.payout_currency }}",
      },
      { name: "Brand", value: "{{ payout_information.brand_id }}" },
      { name: "Deal", value: "{{ deal_id }}" },
    ]),
  },
  new_max_bid: {
    ...COMMON,
    color: "#4a154b",
    title: `Rate request for ${NAME}`,
    text: "{{ max_bid_information.max_bid_comment }}",
    fields: who([{ name: "Deal", value: "{{ deal_id }}" }]),
  },
  product_sent: {
    ...COMMON,
    color: "#1d9bd1",
    title: `Product sent to ${NAME}`,
    text:
      "{% for item in send_product_info.line_items %}{{ item.quantity }} × {{ item.variant_name }}" +
      "{% unless forloop.last %}\n{% endunless %}{% endfor %}",
    fields: who([
      // Only the country: a shipping address and a phone number are the customer's, and a
      // channel is no place for them (a template may still ask for them).
      { name: "Ships to", value: "{{ send_product_info.shipping_address.country_code }}" },
      { name: "Email", value: "{{ send_product_info.customer.email }}" },
      { name: "Deal", value: "{{ deal_id }}" },
    ]),
  },
  new_email_sent: {
    ...COMMON,
    color: "#9e9ea6",
    title: `Email sent to ${NAME}: {{ email_information.email_subject }}`,
    text: "{{ email_information.email_body | truncate_text: 500 }}",
    fields: who([
      { name: "From", value: "{{ email_information.sent_from_email_account }}" },
      { name: "To", value: "{{ email_information.recipient }}" },
      { name: "Cc", value: "{{ email_information.cc_address }}" },
      { name: "Sent by", value: "{{ email_information.sent_by_user }}" },
    ]),
  },
  new_influencer_reply: {
    ...COMMON,
    color: "#2eb67d",
    title: `${NAME} replied: {{ email_information.email_subject }}`,
    text: "{{ email_information.email_body | truncate_text: 500 }}",
    fields: who([
      { name: "From", value: "{{ email_information.from_addr }}" },
      { name: "To", value: "{{ email_information.recipient }}" },
      { name: "Received", value: "{{ email_information.received_time | unix_date }}" },
    ]),
  },
  new_influencer_order: {
    ...COMMON,
    color: "#2eb67d",
    title: `New order from ${NAME}'s audience: ` +
      "{{ order_information.order_revenue | money: order_information.order_currency }}",
    text: "{% assign o = order_information %}{{ o.order_name | default: o.order_id }} for " +
      "{{ o.order_revenue | money: o.order_currency }}" +
      "{% if o.paid_commission != nil %}, commission {{ o.paid_commission | money: o.account_currency }}" +
      "{% if o.commission_rate != nil %} ({{ o.commission_rate | percent: 'fraction' }}){% endif %}" +
      "{% endif %}.",
    fields: who([
      {
        name: "Revenue",
        value: "{{ order_information.order_revenue | money: order_information.order_currency }}",
      },
      {
        name: "Commission",
        value:
          "{{ order_information.paid_commission | money: order_information.account_currency }}",
      },
      { name: "Discount code", value: "{{ order_information.discount_codes }}" },
      { name: "Matched by", value: "{{ order_information.match_types | replace: '_', ' ' }}" },
      { name: "Store", value: "{{ order_information.platform | capitalize }}" },
    ]),
  },
  new_influencer_post: {
    ...COMMON,
    color: "#e01e5a",
    title: `New post by ${NAME}`,
    text: "{{ post_information.caption | truncate_text: 500 }}",
    link_url: "{{ post_information.post_url | default: deal_info.profile_url }}",
    link_label: "{% if post_information.post_url %}View post{% else %}View profile{% endif %}",
    fields: who([{ name: "Deal", value: "{{ deal_id }}" }]),
  },
  media_kpi_updated: {
    ...COMMON,
    color: "#36c5f0",
    title: `Post metrics updated for ${NAME}`,
    text: "{% assign m = media_information %}" +
      "{% if m.views != nil %}{{ m.views | compact }} views{% endif %}" +
      "{% if m.likes != nil %} · {{ m.likes | compact }} likes{% endif %}" +
      "{% if m.comments != nil %} · {{ m.comments | compact }} comments{% endif %}",
    link_url: "{{ media_information.post_url | default: deal_info.profile_url }}",
    link_label: "{% if media_information.post_url %}View post{% else %}View profile{% endif %}",
    fields: who([{ name: "Deal", value: "{{ deal_id }}" }]),
  },
};

/** The message of an event type without a built-in one. */
export const GENERIC_MESSAGE: MessageSources = {
  ...COMMON,
  color: "#9e9ea6",
  title: "Influencer Hero event {{ event.type }}{% if deal_info %} for " + NAME + "{% endif %}",
  text: "",
  fields: who([{ name: "Deal", value: "{{ deal_id }}" }]),
};
