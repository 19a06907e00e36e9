#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H

#include <openssl/evp.h>

/* A context ready for AES-256-GCM; keys and nonces are given per message. */
static inline EVP_CIPHER_CTX *COpenSSL_gcm_context(void) {
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context && EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) {
        EVP_CIPHER_CTX_free(context);
        return NULL;
    }
    return context;
}

/* AES-256-GCM of `plain` with a 32-byte key and a 12-byte nonce, `aad` authenticated: writes the
   ciphertext (as long as `plain`) then the 16-byte tag to `out`. Returns 1 on success. */
static inline int COpenSSL_gcm_seal(EVP_CIPHER_CTX *context, const unsigned char *key, const unsigned char *nonce,
                                    const unsigned char *aad, int aadLength,
                                    const unsigned char *plain, int plainLength, unsigned char *out) {
    int length = 0, final = 0;
    if (EVP_EncryptInit_ex(context, NULL, NULL, key, nonce) != 1) return 0;
    if (EVP_EncryptUpdate(context, NULL, &length, aad, aadLength) != 1) return 0;
    if (EVP_EncryptUpdate(context, out, &length, plain, plainLength) != 1) return 0;
    if (EVP_EncryptFinal_ex(context, out + length, &final) != 1) return 0;
    return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, out + length + final);
}

#endif
