// What an SMS costs: its encoding (GSM-7 when every character is in the GSM 03.38 alphabet, else
// UCS-2) and its number of segments (160/153 GSM-7 septets, 70/67 UTF-16 units when concatenated).

const GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED = "^{}\\[~]|€\f";

export function smsInfo(text) {
  text = text || "";
  let septets = 0;
  let gsm = true;
  for (const char of text) {
    if (GSM_BASIC.includes(char)) septets += 1;
    else if (GSM_EXTENDED.includes(char)) septets += 2;
    else { gsm = false; break; }
  }
  if (gsm) {
    return { encoding: "GSM-7", units: septets, segments: septets <= 160 ? (septets ? 1 : 0) : Math.ceil(septets / 153), perSegment: septets <= 160 ? 160 : 153 };
  }
  const units = text.length; // UTF-16 code units, as UCS-2 counts them
  return { encoding: "UCS-2", units, segments: units <= 70 ? (units ? 1 : 0) : Math.ceil(units / 67), perSegment: units <= 70 ? 70 : 67 };
}
