/** Ceilometer input formats: signature, normalisation to Sample, per-sample validation. */
export { computeSignature, verifySignature, recursiveKeypairs, type SignatureCheck, type ListForm } from './signature';
export { parseHttpBody, parseKafkaValue, DEFAULT_NORMALIZE_OPTIONS, type NormalizeOptions, type NormalizeResult, type Reject, type SignaturePolicy } from './normalize';
export { signSample, signMessage, asDictToMeterMessage } from './sign';
export { escapeMetadataKeys, unescapeMetadataKeys } from './keys';
export { parseTaggedJson, stringifyTagged, untag, PyFloat, JsonSyntaxError } from './json';
export { parseCeilometerTimestamp, formatCeilometerTimestamp } from './timestamp';
